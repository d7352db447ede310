"""The shared vocabulary: values, keys, tables, errors and the Store/Storage contracts.

A leaf package: it imports nothing else of the project, and every layer may import it.
"""
