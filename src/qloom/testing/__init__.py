"""Test fixtures shared by tests/ and bench/: random-weight layers (`layers`) and IR graphs
with the BNN-PYNQ zoo's shapes (`zoo`). Not used by the product: nothing in qloom imports it."""
