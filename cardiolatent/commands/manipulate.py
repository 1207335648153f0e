"""``cardiolatent manipulate``: move participants along a trait's (or one latent's) direction and decode."""

from __future__ import annotations

from cardiolatent.commands._common import add_images_argument, add_latents_argument, add_ukb_argument

HELP = "latent manipulation: move participants along a trait or latent direction and decode their hearts"
DESCRIPTION = (
    "The paper's latent manipulation. A direction is fitted in one seed's standardised latents: for --trait, "
    "an L1-penalised linear regression (continuous traits, penalty by 5-fold cross-validation) or L1 logistic "
    "regression (diseases: the outcome logic's case status), optionally on the trait residualised for "
    "--covariates; for --latent, that latent alone. Each participant's cine is prepared, encoded to z and "
    "DDIM-inverted to its stochastic code x_T, which is kept; z is moved to z_norm + m sqrt(D) beta for each "
    "magnitude m and decoded with x_T, so m = 0 is the participant's own reconstruction. Writes "
    "OUT/NAME/ (NAME: the trait or latent): manipulation.json (trait or latent, seed, weights and their "
    "fingerprint, magnitudes, steps, the per-latent mean and SD, the direction, its cross-validated R^2 or "
    "AUC), direction.tsv, table.tsv (eid, instance, magnitude, position along the direction, m = 0 PSNR), "
    "excluded.tsv (participants without a usable image, with the QC reason), and per participant "
    "EID_INSTANCE/ with decoded.npy (magnitudes x T x H x W, float32 in [-1, 1]), input.npy, grid.png and "
    "grid.pdf (rows: magnitudes; columns: end-diastolic and end-systolic frames and their difference from "
    "m = 0), cine.gif (all magnitudes side by side) and, with --nifti, decoded.nii.gz. Without arguments "
    "other than --trait or --latent it runs on the built-in synthetic cohort with the demo models."
)


def add_arguments(p) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--trait", default=None,
                      help="trait to move along: a registry name or field id (lvedv, lvwt_global, lamax, 24100, ...), "
                           "an imaging covariate, or an outcome from the definitions file (AF, MI, ...: case status)")
    what.add_argument("--latent", default=None, help="one latent column as the direction, e.g. S1701_Z3")
    p.add_argument("--participants", default=None,
                   help="comma-separated eids (visit 2, else 3) or EID_INSTANCE; default: --n-participants "
                        "participant-visits with images nearest the middle of the direction")
    p.add_argument("--n-participants", type=int, default=3, help="participants chosen when --participants is not given")
    p.add_argument("--magnitudes", default="-1,-0.5,0,0.5,1",
                   help="comma-separated m in z_norm + m sqrt(D) beta (0: the participant's own reconstruction); "
                        "a list starting with a minus needs '=': --magnitudes=-2,-1,0,1,2")
    p.add_argument("--covariates", default=None,
                   help="continuous traits: residualise the trait on these first (the paper's conditioned "
                        "directions), e.g. age,sex,bsa")
    p.add_argument("--weights", default="demo",
                   help="'demo' (the shipped demo model of --seed) or a weights file/folder (whole network)")
    p.add_argument("--config", default=None,
                   help="preset for weights files that do not carry their configuration (e.g. published)")
    p.add_argument("--seed", type=int, default=1701,
                   help="model seed whose latents hold the direction (the demo model of that seed with "
                        "--weights demo)")
    add_latents_argument(p)
    add_ukb_argument(p)
    add_images_argument(p)
    p.add_argument("--definitions", default=None, help="outcome definitions TOML for disease traits (default: packaged)")
    p.add_argument("--inversion-steps", type=int, default=None,
                   help="DDIM steps image -> x_T (default: 200 for the published preset, the paper's; 100 for "
                        "the demo and mini presets)")
    p.add_argument("--decoding-steps", type=int, default=None,
                   help="DDIM steps (x_T, z') -> image (default: 100 for the published preset, the paper's; 100 "
                        "for the demo and mini presets)")
    p.add_argument("--batch-size", type=int, default=8, help="volumes per inversion / decoding call")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                   help="fp32, or bf16 autocast (fast on recent GPUs; the edit is then approximate)")
    p.add_argument("--nifti", action="store_true", help="also write decoded.nii.gz per participant")
    p.add_argument("--out", default="manipulation", help="output folder (one sub-folder per trait or latent)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _magnitudes(text: str) -> list[float]:
    import math

    from cardiolatent.errors import CardiolatentError

    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise CardiolatentError(f"--magnitudes must be comma-separated numbers, e.g. -1,-0.5,0,0.5,1 (got {text!r})") \
            from None
    if not values or not all(math.isfinite(v) for v in values):
        raise CardiolatentError(f"--magnitudes must be finite numbers, e.g. -1,-0.5,0,0.5,1 (got {text!r})")
    return values


def _model(args):
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.model.devices import resolve_device
    from cardiolatent.model.pipeline import demo_weight_files, load_model

    resolve_device(args.device)
    if args.weights == "demo":
        files = [f for f in demo_weight_files() if f.stem.endswith(f"_S{args.seed}")]
        if not files:
            raise CardiolatentError(f"--seed {args.seed}: no demo model of that seed (demo seeds: 1701, 1993, 42, "
                                    "1994, 2023)")
        path = files[0]
    else:
        path = args.weights
    model = load_model(path, config=args.config, device=args.device)
    if model.encoder_only:
        raise CardiolatentError(f"{path} holds only the semantic encoder; manipulation needs the whole network")
    if model.seed is None:
        model.seed = args.seed
    return model, path


def _folder_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "direction"


def run(args) -> int:
    from pathlib import Path

    from cardiolatent.commands._common import analysis_inputs, check_out_folder, image_paths, latents_path
    from cardiolatent.errors import CardiolatentError
    from cardiolatent.interpret import default_steps, latent_direction, manipulate_participants, trait_direction

    magnitudes = _magnitudes(args.magnitudes)
    for flag, v in (("--batch-size", args.batch_size), ("--n-participants", args.n_participants),
                    ("--inversion-steps", args.inversion_steps), ("--decoding-steps", args.decoding_steps)):
        if v is not None and v < 1:
            raise CardiolatentError(f"{flag} must be at least 1, not {v}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise CardiolatentError(f"--out {args.out} is a file; give a folder (one sub-folder per trait or latent)")
    if args.covariates and args.latent:
        raise CardiolatentError("--covariates condition a --trait direction; a --latent direction has none")
    if args.participants is not None:
        from cardiolatent.interpret import parse_participants

        parse_participants(args.participants)  # a bad list is one message before any work
    model, weights = _model(args)
    latents = latents_path(args)
    if args.latent:
        direction = latent_direction(latents, args.latent)
        if direction.summary.seed != model.seed:
            raise CardiolatentError(f"--latent {args.latent} is a latent of seed {direction.summary.seed}; "
                                    f"use --seed {direction.summary.seed}")
    else:
        covs = [c.strip() for c in args.covariates.split(",") if c.strip()] if args.covariates else []
        main, _ = analysis_inputs(args, [args.trait] + covs)
        direction = trait_direction(latents, main, args.trait, covs, seed=model.seed)
    out = Path(args.out) / _folder_name(direction.summary.name)
    check_out_folder(out, "manipulation.json")
    if not args.quiet:
        direction.print_summary()
    steps = None
    if args.inversion_steps or args.decoding_steps:
        inv, dec = default_steps(model)
        steps = (args.inversion_steps or inv, args.decoding_steps or dec)
    res = manipulate_participants(model, direction, image_paths(args), latents=latents,
                                  participants=args.participants, n=args.n_participants, magnitudes=magnitudes,
                                  steps=steps, batch_size=args.batch_size, dtype=args.dtype, weights=weights,
                                  nifti=args.nifti, progress=not args.quiet)
    res.save(out)
    if not args.quiet:
        res.print_summary()
        print(f"wrote {out}/: manipulation.json, direction.tsv, table.tsv and {len(res.manipulations)} participant "
              f"folders (grid.png, grid.pdf, cine.gif, decoded.npy)")
    return 0
