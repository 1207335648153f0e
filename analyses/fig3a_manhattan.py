"""Fig. 3A: Manhattan plot across all latents' GWAS (loci labelled; nearest genes with a gene file in the
config's `genes`, a TSV or BED of chrom, start, end, name: nothing is downloaded)."""

from _figure import Figure, run
from cardiolatent.plotting import manhattan


def main():
    f = Figure(__doc__)
    genes = f.config.get("genes")
    f.save(manhattan(f.result("gwas"), genes=f.resolve(genes) if genes else None), "fig3a_manhattan")


if __name__ == "__main__":
    run(main)
