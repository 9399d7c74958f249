"""The front end: YAML source with positions, ``extends:`` layers, schema, meaning checks."""
