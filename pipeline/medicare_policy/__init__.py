"""CMS payment policy files (fee schedules): the folder reader, one module per layout, the release rule."""
