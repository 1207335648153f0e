"""Field registries from UK Biobank's own dictionaries (Showcase, RAP, codings), their layering
(packaged < CARDIOLATENT_FIELDS < --fields), and traits named by registry name, field id or a
main-data column in any naming style (issue 14)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from _latents_helpers import random_long_latents
from cardiolatent.cli import main
from cardiolatent.errors import CardiolatentError
from cardiolatent.ukb.naming import format_column, parse_column
from cardiolatent.ukb.registry import ENV_VAR, FieldRegistry

SHOWCASE_COLUMNS = ["Path", "Category", "FieldID", "Field", "Participants", "Items", "Stability", "ValueType",
                    "Units", "ItemType", "Strata", "Sexed", "Instances", "Array", "Coding", "Notes", "Link"]
RAP_COLUMNS = ["entity", "name", "type", "primary_key_type", "coding_name", "concept", "description", "folder_path",
               "is_multi_select", "is_sparse_coding", "linkout", "longitudinal_axis_type", "referenced_entity_field",
               "relationship", "title", "units"]

#: (field id, Showcase Field, Showcase ValueType, RAP type, coding, units, instances, arrays)
FIELDS = [
    (21003, "Age when attended assessment centre", "Integer", "integer", "", "years", 4, 1),
    (50, "Standing height", "Continuous", "float", "", "cm", 4, 1),
    (31, "Sex", "Categorical single", "integer", "9", "", 1, 1),
    (41270, "Diagnoses - ICD10", "Categorical multiple", "string", "19", "", 1, 3),
    (41271, "Diagnoses - ICD9", "Categorical multiple", "string", "87", "", 1, 2),
    (53, "Date of attending assessment centre", "Date", "date", "", "", 4, 1),
    (20001, "Cancer code, self-reported", "Categorical multiple", "integer", "3", "", 2, 2),
    (20014, "Qualifications free text", "Text", "string", "", "", 1, 1),
    (24100, "LV end diastolic volume", "Continuous", "float", "", "mL", 2, 1),
    (98801, "Time of blood draw", "Time", "datetime", "", "", 1, 1),
]


def _showcase(path, fields=FIELDS, sep="\t", extra=()):
    rows = [dict(zip(SHOWCASE_COLUMNS, ["A > B", "100", fid, title, "500000", "500000", "Complete", vt, units,
                                         "Data", "Primary", "Unisex", n_inst, n_arr, coding, "", ""]))
            for fid, title, vt, _, coding, units, n_inst, n_arr in fields]
    rows += [dict(zip(SHOWCASE_COLUMNS, r)) for r in extra]
    pd.DataFrame(rows, columns=SHOWCASE_COLUMNS).to_csv(path, sep=sep, index=False)
    return path


def _rap(path, fields=FIELDS):
    rows = [dict(entity="participant", name="eid", type="string", title="Participant ID")]
    for fid, title, _, rtype, coding, units, n_inst, n_arr in fields:
        for i in range(n_inst):
            for a in range(n_arr):
                name = f"p{fid}" + (f"_i{i}" if n_inst > 1 else "") + (f"_a{a}" if n_arr > 1 else "")
                t = title + (f" | Instance {i}" if n_inst > 1 else "") + (f" | Array {a}" if n_arr > 1 else "")
                rows.append(dict(entity="participant", name=name, type=rtype,
                                 coding_name=f"data_coding_{coding}" if coding else "", title=t, units=units))
    rows.append(dict(entity="death", name="p40000_i0", type="date", title="Date of death | Instance 0"))
    rows.append(dict(entity="olink_instance_0", name="il6", type="float", title="IL6"))
    pd.DataFrame(rows, columns=RAP_COLUMNS).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------------------------
# dictionaries as registries
# --------------------------------------------------------------------------------------------


def test_showcase_and_rap_dictionaries_type_the_same_fields_the_same_way(tmp_path):
    sc = FieldRegistry.from_files(_showcase(tmp_path / "Data_Dictionary_Showcase.tsv"), base=False)
    rap = FieldRegistry.from_files(_rap(tmp_path / "app1_20240101.data_dictionary.csv"), base=False)
    ids = [f[0] for f in FIELDS]
    assert sc.fields == rap.fields == sorted(ids)
    expect_type = {21003: "integer", 50: "continuous", 31: "categorical", 41270: "icd10", 41271: "icd9",
                   53: "date", 20001: "categorical", 20014: "text", 24100: "continuous", 98801: "date"}
    for fid in ids:
        a, b = sc.info(fid), rap.info(fid)
        assert a.type == b.type == expect_type[fid], fid
        assert a.arrays == b.arrays and a.instances == b.instances, fid
        assert a.name == b.name and a.unit == b.unit and a.coding == b.coding, fid
    assert sc.name(24100) == "lv_end_diastolic_volume"
    assert sc.name(41270) == "diagnoses_icd10"
    assert sc.info(41270).arrays == 3 and sc.info(53).instances == (0, 1, 2, 3)
    # the RAP file's other entities are skipped and said
    assert any("2 row(s) of other entities" in n for n in rap.notes)
    # a comma-separated Showcase file reads the same
    sc_csv = FieldRegistry.from_files(_showcase(tmp_path / "Data_Dictionary_Showcase.csv", sep=","), base=False)
    assert sc_csv.to_frame().equals(sc.to_frame())


def test_a_dictionary_keeps_the_lower_layers_names_and_na_codes(tmp_path):
    base = FieldRegistry.default()
    reg = FieldRegistry.from_files(_showcase(tmp_path / "dd.tsv"))
    # packaged fields keep their short names (and missing-value codes) under a dictionary
    assert reg.name(21003) == base.name(21003) == "age_at_assessment"
    assert reg.resolve("age_at_assessment") == 21003
    assert reg.info(21003).na_codes == base.info(21003).na_codes
    # a field new to the registry gets its derived name, and the dictionary's type
    assert 98801 not in base and reg.name(98801) == "time_of_blood_draw" and reg.type(98801) == "date"
    assert reg.type(24100) == "continuous"
    # a derived name taken by another field gets _f<id>; two fields deriving one name both do
    extra = [("X", "100", "99001", "Sex", "", "", "", "Categorical single", "", "", "", "", "1", "1", "9", "", ""),
             ("X", "100", "99002", "Volume", "", "", "", "Continuous", "", "", "", "", "1", "1", "", "", ""),
             ("X", "100", "99003", "Volume", "", "", "", "Continuous", "", "", "", "", "1", "1", "", "", "")]
    reg2 = FieldRegistry.from_files(_showcase(tmp_path / "dd2.tsv", extra=extra))
    assert reg2.name(31) == "sex" and reg2.name(99001) == "sex_f99001"
    assert (reg2.name(99002), reg2.name(99003)) == ("volume_f99002", "volume_f99003")


def test_later_layers_win_and_the_users_name_wins(tmp_path):
    sc = _showcase(tmp_path / "dd.tsv")
    user = tmp_path / "mine.tsv"
    user.write_text("field\tname\ttype\tunit\n24100\tlvedv\tcontinuous\tml\n21003\tage_years\tinteger\tyears\n")
    reg = FieldRegistry.from_files(sc, user)
    assert reg.name(24100) == "lvedv" and reg.name(21003) == "age_years" and reg.info(24100).unit == "ml"
    # the user's file first, the dictionary after it: the dictionary keeps the user's names
    reg2 = FieldRegistry.from_files(user, sc)
    assert reg2.name(24100) == "lvedv" and reg2.info(24100).unit == "mL"
    # a user's type wins over the dictionary's
    user2 = tmp_path / "mine2.tsv"
    user2.write_text("field\tname\ttype\n24100\tlvedv\tinteger\n")
    assert FieldRegistry.from_files(sc, user2).type(24100) == "integer"
    assert FieldRegistry.from_files(user2, sc).type(24100) == "continuous"


def test_codings_give_missing_value_codes_only_where_none_were_given(tmp_path):
    codings = tmp_path / "Codings.tsv"
    pd.DataFrame({"Coding": ["100291"] * 5 + ["100605"] * 2 + ["9"] * 2,
                  "Value": ["-1", "-3", "-10", "-7", "5", "-7", "1", "0", "1"],
                  "Meaning": ["Do not know", "Prefer not to answer", "Less than one", "None of the above", "Five",
                              "None of the above", "Yes", "Female", "Male"]}).to_csv(codings, sep="\t", index=False)
    user = tmp_path / "mine.tsv"
    user.write_text("field\tname\ttype\tcoding\tna_codes\n"
                    "99101\tcups_of_tea\tinteger\t100291\t\n"
                    "99102\tcups_of_coffee\tinteger\t100291\t-1\n"
                    "99103\tvascular_problems\tcategorical\t100605\t\n")
    reg = FieldRegistry.from_files(user, codings)
    assert reg.na_codes(99101) == {-1, -3}  # not -10 (Less than one) nor -7 (None of the above)
    assert reg.na_codes(99102) == {-1}  # given explicitly: kept
    assert reg.na_codes(99103) == set()  # None of the above is an answer
    # codings layered first apply to fields that come later
    reg2 = FieldRegistry.from_files(codings, user)
    assert reg2.na_codes(99101) == {-1, -3} and reg2.na_codes(99102) == {-1}
    # the RAP's codings.csv spelling too
    rapc = tmp_path / "app.codings.csv"
    pd.DataFrame({"coding_name": ["data_coding_100291"] * 2, "code": ["-1", "-3"],
                  "meaning": ["Do not know", "Prefer not to answer"]}).to_csv(rapc, index=False)
    assert FieldRegistry.from_files(user, rapc).na_codes(99101) == {-1, -3}


def test_environment_variable_is_layered_before_fields(tmp_path, monkeypatch, capsys):
    a = tmp_path / "a.tsv"
    a.write_text("field\tname\ttype\n99201\tfrom_env_a\tcontinuous\n99202\tenv_name\tcontinuous\n")
    b = _showcase(tmp_path / "dd.tsv")
    c = tmp_path / "c.tsv"
    c.write_text("field\tname\ttype\n99202\tcli_name\tcontinuous\n")
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(a), "", str(b)]))
    reg = FieldRegistry.configured([c])
    assert reg.name(99201) == "from_env_a" and reg.name(98801) == "time_of_blood_draw"
    assert reg.name(99202) == "cli_name"  # --fields wins over the environment
    assert main(["fields", "--fields", str(c), "--out", str(tmp_path / "reg.tsv")]) == 0
    out = pd.read_csv(tmp_path / "reg.tsv", sep="\t")
    names = dict(zip(out["field"], out["name"]))
    assert names[99201] == "from_env_a" and names[99202] == "cli_name" and names[21003] == "age_at_assessment"
    # --fields repeated: both layered, in order
    d = tmp_path / "d.tsv"
    d.write_text("field\tname\ttype\n99202\tlast_name\tcontinuous\n")
    assert main(["fields", "--fields", str(c), "--fields", str(d), "--out", str(tmp_path / "reg2.tsv")]) == 0
    assert "last_name" in set(pd.read_csv(tmp_path / "reg2.tsv", sep="\t")["name"])
    # a missing file in the variable is named with the variable
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope.tsv"))
    capsys.readouterr()
    assert main(["fields"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.tsv" in err and ENV_VAR in err, err


def test_column_names_in_every_style_resolve_to_the_field():
    reg = FieldRegistry.default()
    for name, ref in [("30000-2.0", (30000, 2, 0)), ("p30000_i2", (30000, 2, 0)), ("p30000", (30000, 0, 0)),
                      ("f.30000.2.0", (30000, 2, 0)), ("X30000.2.0", (30000, 2, 0)), ("x30000_2_0", (30000, 2, 0)),
                      ("p4080_i2_a1", (4080, 2, 1)), ("30000", (30000, None, None)),
                      ("age_at_assessment", (21003, None, None)), ("f98765", (98765, None, None))]:
        assert reg.reference(name) == ref, name
        assert reg.resolve(name) == ref[0]


BAD_DICTIONARIES = {
    "showcase_without_fieldid": (
        "Path\tField\tValueType\tInstances\tArray\nA\tHeight\tContinuous\t1\t1\n", "lacks column FieldID"),
    "showcase_id_not_integer": (
        "FieldID\tField\tValueType\tInstances\tArray\n50\tHeight\tContinuous\t1\t1\nabc\tWeight\tContinuous\t1\t1\n",
        "row 3, column FieldID: must be an integer field id (got 'abc')"),
    "showcase_unknown_valuetype": (
        "FieldID\tField\tValueType\tInstances\tArray\n50\tHeight\tReal number\t1\t1\n",
        "row 2, column ValueType: 'Real number' is not one of"),
    "showcase_bad_count": (
        "FieldID\tField\tValueType\tInstances\tArray\n50\tHeight\tContinuous\tmany\t1\n",
        "row 2, column Instances: must be a count"),
    "rap_unknown_type": (
        "entity,name,type,coding_name,title\nparticipant,p50_i0,real,,Height | Instance 0\n",
        "row 2, column type: 'real' is not one of"),
    "rap_bad_name": (
        "entity,name,type,coding_name,title\nparticipant,height,float,,Height\n",
        "row 2, column name: 'height' is not a field column"),
    "unknown_header": ("id,label\n1,a\n", "is none of: a cardiolatent registry"),
    "registry_bad_type": ("field\tname\ttype\n50\theight2\treal\n", "row 2: type 'real' is not one of"),
}


@pytest.mark.parametrize("case", sorted(BAD_DICTIONARIES))
def test_a_bad_dictionary_is_one_line_naming_file_row_and_column(case, tmp_path, capsys):
    text, expect = BAD_DICTIONARIES[case]
    path = tmp_path / f"{case}.{'csv' if case.startswith('rap') or case == 'unknown_header' else 'tsv'}"
    path.write_text(text)
    with pytest.raises(CardiolatentError) as e:
        FieldRegistry.from_files(path)
    assert expect in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)
    assert main(["fields", "--fields", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and expect in err, err


# --------------------------------------------------------------------------------------------
# traits by any naming, through the command line
# --------------------------------------------------------------------------------------------

NEW_FIELD = 98765  # in no registry


@pytest.fixture(scope="module")
def cohort_files(small_cohort, tmp_path_factory):
    """The small cohort's main data with an extra numeric field (baseline only) in ukbconv csv and
    RAP naming, latents for every participant-visit, and a registry naming the new field."""
    d = tmp_path_factory.mktemp("regsrc")
    truth = pd.read_csv(small_cohort.truth / "participants.tsv", sep="\t")
    rng = np.random.default_rng(3)
    lat = random_long_latents(truth, rng)
    lat.to_parquet(d / "lat.parquet")
    m = pd.read_csv(small_cohort.main, dtype=str, keep_default_na=False)
    vals = rng.normal(7, 2, len(m)).round(2).astype(str)
    vals[::17] = ""  # some missing
    m[f"{NEW_FIELD}-0.0"] = vals
    m.to_csv(d / "main.csv", index=False)
    keys = {c: parse_column(c, "ukbconv_csv") for c in m.columns if c != "eid"}
    arrayed = {f for f, _, a in keys.values() if a}
    rap = m.rename(columns={c: format_column(f, i, a, "rap", arrayed=f in arrayed) for c, (f, i, a) in keys.items()})
    rap.to_csv(d / "main_rap.csv", index=False)
    reg = d / "mine.tsv"
    reg.write_text(f"field\tname\ttype\tunit\n{NEW_FIELD}\tnew_count\tcontinuous\t10^9/L\n")
    lat[lat["instance"] == 3].to_parquet(d / "lat3.parquet")
    m.drop(columns=[c for c in m.columns if c.startswith("53-3.")]).to_csv(d / "main_no53_3.csv", index=False)
    return dict(dir=d, lat=str(d / "lat.parquet"), ukb=str(d / "main.csv"), rap=str(d / "main_rap.csv"),
                fields=str(reg), lat3=str(d / "lat3.parquet"), ukb_no53_3=str(d / "main_no53_3.csv"))


def _assoc(files, traits, out, *extra, ukb=None):
    rc = main(["assoc", "--latents", files["lat"], "--ukb", ukb or files["ukb"], "--traits", traits,
               "--out", str(out), "--quiet", *extra])
    return rc


def test_an_unregistered_numeric_field_is_a_trait_with_a_note(cohort_files, tmp_path, capsys):
    assert _assoc(cohort_files, str(NEW_FIELD), tmp_path / "a.tsv") == 0, capsys.readouterr().err
    t = pd.read_csv(tmp_path / "a.tsv", sep="\t")
    # the label names the trait again
    assert _assoc(cohort_files, f"f{NEW_FIELD}", tmp_path / "b.tsv") == 0, capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b.tsv", sep="\t"), t)
    assert set(t["trait"]) == {f"f{NEW_FIELD}"} and (t["status"] == "ok").all()
    assert t["n"].max() < 120 * 1.2 and t["n"].min() > 50
    notes = json.loads((tmp_path / "a.summary.json").read_text())["notes"]
    assert any(str(NEW_FIELD) in n and ("no registry" in n or "inferred" in n or "typed" in n) for n in notes), notes


def test_every_naming_of_a_trait_gives_the_same_rows(cohort_files, tmp_path, capsys):
    f = cohort_files["fields"]
    tables = {}
    for naming, ukb in [("new_count", None), (str(NEW_FIELD), None), (f"{NEW_FIELD}-0.0", None),
                        (f"x{NEW_FIELD}_0_0", None), (f"p{NEW_FIELD}_i0", cohort_files["rap"]),
                        (str(NEW_FIELD), cohort_files["rap"])]:
        out = tmp_path / f"{naming}_{'rap' if ukb else 'csv'}.tsv"
        assert _assoc(cohort_files, naming, out, "--fields", f, ukb=ukb) == 0, capsys.readouterr().err
        tables[(naming, bool(ukb))] = pd.read_csv(out, sep="\t")
    first = tables[("new_count", False)]
    assert set(first["trait"]) == {"new_count"} and len(first) == 6 and first["beta"].notna().all()
    for k, t in tables.items():
        pd.testing.assert_frame_equal(t, first, obj=str(k))


def test_a_covariate_by_field_id_works_in_cox_and_assoc(cohort_files, tmp_path, capsys):
    f = cohort_files["fields"]
    rc = main(["cox", "--latents", cohort_files["lat"], "--ukb", cohort_files["ukb"], "--outcomes", "HTN",
               "--covariates", f"age,sex,{NEW_FIELD}", "--fields", f, "--out", str(tmp_path / "c.tsv"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    c = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert len(c) == 6 and c["n"].min() > 30
    notes = json.loads((tmp_path / "c.summary.json").read_text())["notes"]
    assert any("new_count (field 98765)" in n for n in notes), notes
    assert _assoc(cohort_files, "bmi", tmp_path / "a.tsv", "--covariates", f"age,sex,{NEW_FIELD}-0.0",
                  "--fields", f) == 0, capsys.readouterr().err
    a = pd.read_csv(tmp_path / "a.tsv", sep="\t")
    assert a["covariates"].str.contains("new_count").all()


def test_unknown_names_give_near_matches(cohort_files, tmp_path, capsys):
    assert _assoc(cohort_files, "bmii,new_cont", tmp_path / "a.tsv", "--fields", cohort_files["fields"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "'bmii' (did you mean bmi" in err and "'new_cont' (did you mean new_count" in err, err


def test_two_namings_of_one_variable_are_refused(cohort_files, tmp_path, capsys):
    assert _assoc(cohort_files, f"new_count,{NEW_FIELD}-0.0", tmp_path / "a.tsv", "--fields",
                  cohort_files["fields"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "name the same variable (new_count)" in err, err
    # the same name twice is simply used once
    assert _assoc(cohort_files, "bmi,bmi", tmp_path / "b.tsv") == 0
    assert set(pd.read_csv(tmp_path / "b.tsv", sep="\t")["trait"]) == {"bmi"}


def test_a_missing_pinned_column_is_one_line(cohort_files, tmp_path, capsys):
    assert _assoc(cohort_files, f"{NEW_FIELD}-2.0", tmp_path / "a.tsv") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"no column for field {NEW_FIELD} instance 2" in err, err


def test_no_stopiteration_when_no_row_has_a_visit_date(cohort_files, tmp_path, capsys):
    """Latents at visit 3 only, main data without 53-3.0, a trait named by field id through --fields:
    this was an unexpected StopIteration."""
    rc = main(["assoc", "--latents", cohort_files["lat3"], "--ukb", cohort_files["ukb_no53_3"], "--traits",
               str(NEW_FIELD), "--fields", cohort_files["fields"], "--out", str(tmp_path / "a.tsv"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "unexpected" not in err and "no visit date (field 53)" in err, err


def test_trait_presets_expand():
    from cardiolatent.analysis.design import COVARIATE_PRESETS, expand_names
    from cardiolatent.ukb.presets import trait_presets

    presets = trait_presets()
    if not presets:
        pytest.skip("no trait preset in data/presets.toml")
    name, members = next(iter(presets.items()))
    got = expand_names([f"{name},bmi"])
    assert got[: len(dict.fromkeys(members))] == list(dict.fromkeys(members))
    assert got[-1] == "bmi" or "bmi" in members
    assert expand_names("paper_traits") == list(COVARIATE_PRESETS["paper_traits"])


def test_dictionaries_keep_what_they_cannot_know(tmp_path):
    """A RAP multi-select column (one |-joined cell) stays an array field; a Showcase instance count
    keeps a lower layer's instance numbers of the same length (imaging fields: 2 and 3)."""
    p = tmp_path / "x.data_dictionary.csv"
    pd.DataFrame([dict(entity="participant", name="p41270", type="string", coding_name="data_coding_19",
                       is_multi_select="yes", title="Diagnoses - ICD10"),
                  dict(entity="participant", name="p99900", type="string", coding_name="", is_multi_select="yes",
                       title="Stuff")], columns=RAP_COLUMNS).to_csv(p, index=False)
    base = FieldRegistry.default()
    reg = FieldRegistry.from_files(p)
    assert reg.type(41270) == "icd10" and reg.info(41270).arrays == base.info(41270).arrays > 2
    assert reg.is_array(99900) and not FieldRegistry.from_files(p, base=False).info(41270).arrays > 2
    user = tmp_path / "mine.tsv"
    user.write_text("field\tname\ttype\tinstances\n24100\tlvedv\tcontinuous\t2,3\n")
    sc = _showcase(tmp_path / "dd.tsv")
    assert FieldRegistry.from_files(user, sc).info(24100).instances == (2, 3)
    assert FieldRegistry.from_files(sc, base=False).info(24100).instances == (0, 1)


def test_a_cox_stratum_by_field_id_or_column_is_the_same_stratum(cohort_files, tmp_path, capsys):
    tables = []
    for st in ("sex", "31", "31-0.0"):
        out = tmp_path / f"c_{st}.tsv"
        rc = main(["cox", "--latents", cohort_files["lat"], "--ukb", cohort_files["ukb"], "--outcomes", "HTN",
                   "--covariates", "age", "--strata", st, "--out", str(out), "--quiet"])
        assert rc == 0, capsys.readouterr().err
        tables.append(pd.read_csv(out, sep="\t"))
    assert len(tables[0]) == 6 and tables[0]["beta"].notna().all()
    for t in tables[1:]:
        pd.testing.assert_frame_equal(t, tables[0])


def test_export_covariates_by_any_naming_write_the_same_files(cohort_files, tmp_path, capsys):
    covars = []
    for k, naming in enumerate(("new_count", f"x{NEW_FIELD}_0_0")):
        out = tmp_path / f"ex{k}"
        rc = main(["export", "--latents", cohort_files["lat"], "--ukb", cohort_files["ukb"], "--format", "plink2",
                   "--covariates", f"age,sex,{naming}", "--fields", cohort_files["fields"], "--out", str(out),
                   "--quiet"])
        assert rc == 0, capsys.readouterr().err
        covars.append(pd.read_csv(out / "covar.txt", sep="\t"))
    assert "new_count" in covars[0].columns and covars[0]["new_count"].notna().sum() > 50
    pd.testing.assert_frame_equal(covars[0], covars[1])


def test_codings_missing_codes_are_cleaned_by_read_main(tmp_path):
    from cardiolatent.ukb.read import read_main

    codings = tmp_path / "Codings.tsv"
    codings.write_text("Coding\tValue\tMeaning\n100291\t-1\tDo not know\n100291\t-3\tPrefer not to answer\n"
                       "100291\t-10\tLess than one\n")
    sc = _showcase(tmp_path / "dd.tsv", fields=[(99301, "Cups of tea per day", "Integer", "integer", "100291", "",
                                                 1, 1)])
    main_file = tmp_path / "main.csv"
    main_file.write_text("eid,99301-0.0\n1,3\n2,-1\n3,-3\n4,-10\n5,\n")
    reg = FieldRegistry.from_files(sc, codings)
    assert reg.name(99301) == "cups_of_tea_per_day" and reg.na_codes(99301) == {-1, -3}
    m = read_main(main_file, ["cups_of_tea_per_day"], registry=reg)
    got = m.wide["99301-0.0"].astype("Float64")
    assert got.tolist()[:1] == [3] and got.isna().tolist() == [False, True, True, False, True]
    assert got.iloc[3] == -10
