"""humpback: instruction backtranslation (Li et al. 2023) as a DVC pipeline.

The stages in `stages/` are thin entry points over the modules of this package; `dvc.yaml` lists,
for each stage, exactly the modules its entry point imports (`humpback/code.py` checks it).
"""
