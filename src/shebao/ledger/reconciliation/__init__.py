"""The reconciliation engine behind ``shebao.ledger.reconcile`` (the public module: rules, service
functions and reads): ``months`` (pure expected-month rules), ``policy`` (figures per entity and
month), ``engine`` (the scan and the judging), ``rows`` (amounts, wording, citations) and
``store`` (bulk writes)."""
