"""arccommon: what every package of arc-finetune shares (the user-error type, CLI helpers, safe file I/O,
the embedded model's path, the precision decision). It knows nothing of ARC, recipes or evaluation."""
