import matplotlib

matplotlib.use("Agg")
from hypothesis import settings

settings.register_profile("unit", derandomize=True, deadline=None, max_examples=40, print_blob=True)
settings.load_profile("unit")
