"""GWAS hand-off: phenotype and covariate files that REGENIE, PLINK 2, PLINK 1.9 and BOLT-LMM read.

- :mod:`cardiolatent.exports.samples`: genotype sample lists (``.fam``, ``.psam``, BGEN
  ``.sample``), withdrawal and removal lists, KING kinship tables, the encoder's QC table;
- :mod:`cardiolatent.exports.phenotypes`: sample QC (every participant written or counted under
  one reason), phenotype transforms and covariate coding -> :class:`~cardiolatent.exports.phenotypes.ExportTables`;
- :mod:`cardiolatent.exports.writers`: the files, as each tool reads them (headers, missing values,
  binary coding, lossless numbers);
- :mod:`cardiolatent.exports.scripts`: ``run_regenie.sh`` / ``run_plink2.sh`` / ``run_plink1.sh`` /
  ``run_bolt.sh`` with the command lines for the written files.

The command is ``cardiolatent export`` (:mod:`cardiolatent.commands.export`).
"""
