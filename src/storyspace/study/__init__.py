"""Human A/B studies: pairs drawn from runs or an eval (``create``), ratings kept append-only
(``ratings``), the judges' agreement with people (``report``), choices as ORPO pairs
(``preferences``)."""
