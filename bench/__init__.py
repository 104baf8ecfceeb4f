"""Side-by-side benchmarks that print their ratios."""
