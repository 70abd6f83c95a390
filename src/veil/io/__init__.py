"""Reading the parties input files and writing their outputs."""
