"""``cardiolatent train``: train or fine-tune a 3D DiffAE on cine MRIs.

The modules doing the work (model, train; they import torch) are imported in :func:`run`, so
``cardiolatent --help`` stays fast.
"""

from __future__ import annotations

from cardiolatent.commands._common import add_images_argument, image_paths

HELP = "train or fine-tune a 3D DiffAE on prepared cines (eps-MSE, EMA, flips; resumable)"
DESCRIPTION = (
    "Train a 3D DiffAE (or fine-tune released weights with --init) on 4-chamber cines: inputs are read "
    "and prepared with the published recipe (50x128x128) and resampled to the preset's input shape, "
    "once, into a cache in --out. Epsilon-prediction MSE at a uniform diffusion step, Adam, gradient-norm "
    "clipping, EMA of the weights, random horizontal flips, bf16 autocast on GPU with --amp. Participants "
    "are split into train/holdout by --split-seed (all visits of a person together). Re-running the same "
    "command resumes from OUT/checkpoint.pt. Writes OUT/model.safetensors (EMA weights with their "
    "configuration), OUT/loss.tsv, OUT/split.tsv."
)


def add_arguments(p) -> None:
    from cardiolatent.commands._common import add_workers_argument

    add_images_argument(p)
    p.add_argument("--out", required=True, help="output folder (checkpoint, loss log, final weights)")
    p.add_argument("--preset", default="demo", help="model preset: demo, mini or published")
    p.add_argument("--init", default=None, help="weights to fine-tune from (any accepted layout)")
    p.add_argument("--seed", type=int, default=1701, help="training seed (initial weights, batches, noise)")
    p.add_argument("--steps", type=int, default=3000, help="optimisation steps")
    p.add_argument("--batch-size", type=int, default=8, help="volumes per step")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="learning rate over the run: constant, or cosine decay to 0 at --steps")
    p.add_argument("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up steps")
    p.add_argument("--ema-warmup", action="store_true",
                   help="EMA decay (1 + step) / (10 + step) until it reaches --ema-decay (no weight left on "
                        "the random initial weights in short runs)")
    p.add_argument("--ema-decay", type=float, default=0.999, help="EMA decay per step (the original: 0.9999)")
    p.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip")
    p.add_argument("--flip-p", type=float, default=0.5, help="probability of a horizontal flip")
    g = p.add_argument_group(
        "acquisition augmentation",
        "random acquisition nuisance per volume and step (seeded by --seed and the step, so resumes "
        "are exact); by default only the encoder sees it while the network denoises the original, "
        "so the latents learn to ignore it. All 0 (the default): none.")
    g.add_argument("--augment-rotate", type=float, default=0.0, metavar="DEG",
                   help="in-plane rotation, uniform in +-DEG degrees")
    g.add_argument("--augment-shift", type=float, default=0.0, metavar="PX",
                   help="shift, uniform in +-PX pixels of the model input")
    g.add_argument("--augment-bias", type=float, default=0.0, metavar="S",
                   help="linear coil-bias ramp of strength up to S (0.35: the phantom's largest)")
    g.add_argument("--augment-gamma", type=float, default=0.0, metavar="G",
                   help="gamma exp(U(-G, G)) on the [0, 1] image")
    g.add_argument("--augment-noise", type=float, default=0.0, metavar="SD",
                   help="Gaussian noise of SD up to SD (in [0, 1] image units)")
    g.add_argument("--augment-target", choices=["encoder", "both"], default="encoder",
                   help="encoder: only the encoder sees the augmented volume (default); both: it is "
                        "also the volume denoised")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="fine-tune the denoising network only (needs --init): the encoder's weights, and so "
                        "every latent they give, stay exactly as loaded; for teaching a decoder to use the "
                        "latents (latent manipulation) without changing them")
    p.add_argument("--standardise-conditioning", action="store_true",
                   help="needs --init: rebuild the network so its denoiser sees each latent standardised (mean "
                        "and SD over the training cines, stored in the weights), starting from the old network "
                        "at the average latent; with --freeze-encoder it teaches a decoder that ignores z to use it")
    p.add_argument("--cond-lr-scale", type=float, default=1.0,
                   help="learning-rate multiplier of the denoiser's latent-conditioning layers")
    p.add_argument("--loss-weighting", choices=["uniform", "p2", "v"], default="uniform",
                   help="weight of each diffusion step's loss: uniform (the original's), p2 (1 / (1 + SNR)), "
                        "v (1 / abar, v-prediction's)")
    p.add_argument("--holdout-fraction", type=float, default=0.2, help="participants kept out of training")
    p.add_argument("--split-seed", type=int, default=1701, help="seed of the participant split")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--amp", action="store_true", help="bf16 mixed precision (CUDA only)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    add_workers_argument(p, "preparing images")
    p.add_argument("--cache", default=None,
                   help="folder for the prepared-cine cache (default: --out); share it between seeds")
    p.add_argument("--weights-dtype", choices=["float32", "float16"], default="float32",
                   help="dtype of the tensors in OUT/model.safetensors (float16 halves the file; "
                        "training and checkpoints stay float32; loading casts back)")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--keep-snapshots", action="store_true",
                   help="also write the EMA weights at every checkpoint to OUT/snapshots/model_stepNNNNNN.safetensors "
                        "(to pick a step afterwards on held-out participants)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    import numpy as np

    from cardiolatent.commands._common import workers
    from cardiolatent.images.readers import discover_inputs
    from cardiolatent.io_utils import write_table_atomic
    from cardiolatent.model.config import get_preset
    from cardiolatent.train.data import prepared_dataset, split_participants
    from cardiolatent.train.loop import TrainConfig, check_device, train

    check_device(args.device)  # before any image is prepared
    if args.cond_lr_scale <= 0:
        from cardiolatent.errors import CardiolatentError

        raise CardiolatentError(f"--cond-lr-scale must be positive, not {args.cond_lr_scale}")
    if (args.freeze_encoder or args.standardise_conditioning) and not args.init:
        from cardiolatent.errors import CardiolatentError

        raise CardiolatentError("--freeze-encoder and --standardise-conditioning fine-tune given weights: "
                                "name them with --init")
    augment = dict(aug_rotate_deg=args.augment_rotate, aug_shift_px=args.augment_shift, aug_bias=args.augment_bias,
                   aug_gamma=args.augment_gamma, aug_noise=args.augment_noise, aug_target=args.augment_target)
    TrainConfig(**augment).augment  # checks the sizes before any image is prepared

    cfg_model = get_preset(args.preset)
    items = discover_inputs(image_paths(args))
    data, index, qc = prepared_dataset(items, cfg_model.input_shape, args.cache or args.out, workers=workers(args),
                                       progress=not args.quiet)
    split = split_participants(index["eid"], args.holdout_fraction, args.split_seed)
    index = index.assign(split=index["eid"].map(split))
    write_table_atomic(index, f"{args.out}/split.tsv", index=False)
    train_rows = np.flatnonzero(index["split"].to_numpy() == "train")
    print(f"{len(index):,} cines prepared ({len(qc):,} excluded, see data_qc.tsv); "
          f"training on {len(train_rows):,}, holding out {len(index) - len(train_rows):,}")
    cfg = TrainConfig(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      grad_clip=args.grad_clip, ema_decay=args.ema_decay, flip_p=args.flip_p, amp=args.amp,
                      checkpoint_every=args.checkpoint_every, device=args.device, threads=args.threads,
                      lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps,
                      ema_warmup=args.ema_warmup, weights_dtype=args.weights_dtype,
                      keep_snapshots=args.keep_snapshots, freeze_encoder=args.freeze_encoder,
                      standardise_conditioning=args.standardise_conditioning, cond_lr_scale=args.cond_lr_scale,
                      loss_weighting=args.loss_weighting, **augment)
    final = train(np.asarray(data[train_rows]), cfg_model, args.out, cfg, init_weights=args.init,
                  progress=not args.quiet)
    print(f"wrote {final}")
    return 0
