"""OpenAPI post-processing: input objects refuse unknown fields (StrictInput), so say so."""


def forbid_unknown_request_fields(result, generator, request, public):
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("InRequest") or name.endswith("In"):
            component["additionalProperties"] = False
    return result
