"""recipes: Axolotl YAML recipes and the code that serves them.

The YAML files beside this module are the recipes (one whole Axolotl config each). The modules check a recipe
against our schema and Axolotl's own keys (:mod:`recipes.check`), launch Axolotl on it with the right device and
precision (:mod:`recipes.launch`), record what evaluation needs beside the adapter (:mod:`recipes.record`), and
convert the embedded base model (:mod:`recipes.basemodel`). Command line: ``python -m recipes {check,train,model}``.
"""

from pathlib import Path

RECIPES_DIR = Path(__file__).parent
DEVICE_KEY = "train_device"  # where a recipe trains (cpu | cuda): read by check and launch, ignored by Axolotl
