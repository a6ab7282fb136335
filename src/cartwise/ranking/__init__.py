"""What happens to model scores before they reach a shopper: catalog rules, diversity, ads.

:mod:`catalog` snapshots the store's catalog as arrays, :mod:`filters` applies business rules,
:mod:`diversity` reranks, :mod:`complements` mines co-purchases and :mod:`ads` ranks sponsored
candidates by expected value.
"""
