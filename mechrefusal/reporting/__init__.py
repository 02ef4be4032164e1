"""What the experiment scripts share: argument parsing, model and prompt loading, saving a figure
with its JSON record, and the plots themselves (the only module that imports matplotlib).
"""
