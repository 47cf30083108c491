"""Whole-song generation: windows -> sampled stem spectrograms -> phase -> stitched stem and mix."""
