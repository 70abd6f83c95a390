"""The Veil grammar, shipped inside the wheel as the package data of `veil.grammar`."""
