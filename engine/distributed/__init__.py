"""Scale-out: a job split into N partitions (``--partition I/N``), run as plain processes
(Slurm arrays, Kubernetes indexed Jobs) or as Ray actors under one driver (``--ray``)."""
