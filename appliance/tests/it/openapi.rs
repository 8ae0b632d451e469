//! The generated OpenAPI document: version 3.1, every reference resolves, every response is
//! described, every route the node serves is in it. (schemathesis checks the answers against it
//! in CI: `deploy/api-conformance`.)

use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(appliance::node::api::openapi_document()).unwrap()
}

/// Every `$ref` under `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => found.push(target),
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0", "{}", doc["openapi"]);
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "only {} references", found.len());
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} is not a component schema"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is referenced but not defined"
        );
    }
}

#[test]
fn every_route_is_documented_with_described_responses() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    // The routes `api::routes` and `views::routes` serve.
    let served = [
        ("post", "/v1/transactions"),
        ("post", "/v1/mempool/relay"),
        ("get", "/v1/transactions/{txid}"),
        ("get", "/v1/transactions/{txid}/proof"),
        ("get", "/v1/transactions/{txid}/receipt"),
        ("get", "/v1/blocks/{height}"),
        ("get", "/v1/blocks/{height}/receipts"),
        ("get", "/v1/headers/{height}"),
        ("get", "/v1/certificates/{height}"),
        ("get", "/v1/light_blocks/{height}"),
        ("get", "/v1/accounts"),
        ("get", "/v1/accounts/{account}"),
        ("get", "/v1/accounts/{account}/balances"),
        ("get", "/v1/accounts/{account}/positions"),
        ("get", "/v1/keys/{key}/account"),
        ("get", "/v1/assets"),
        ("get", "/v1/assets/{asset}/positions"),
        ("get", "/v1/proofs/balance/{account}/{asset}"),
        ("get", "/v1/proofs/position/{asset_holder}/{asset}"),
        ("get", "/v1/proofs/asset/{asset}"),
        ("get", "/v1/proofs/account/{account}"),
        ("get", "/v1/proofs/mapping"),
        ("get", "/v1/proofs/validators"),
        ("get", "/v1/proofs/pending_validators"),
        ("get", "/v1/chain"),
        ("get", "/v1/validators"),
        ("get", "/v1/fees"),
        ("get", "/v1/fees/quote"),
        ("get", "/v1/limits"),
        ("get", "/v1/settlements"),
        ("get", "/v1/audit"),
        ("get", "/v1/requests"),
        ("get", "/v1/requests/{id}"),
        ("get", "/v1/bars"),
        ("get", "/v1/bars/{serial}"),
        ("get", "/v1/mapping"),
        ("get", "/v1/mappings"),
        ("get", "/v1/mappings/{key}"),
        ("get", "/v1/mapping/draft"),
        ("post", "/v1/mapping/draft"),
        ("get", "/v1/mapping/draft/signed"),
        ("get", "/v1/attestations/latest"),
        ("get", "/v1/attestations/{height}"),
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in served {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[method];
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        for (status, response) in responses {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} has no description"
            );
        }
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        served.len(),
        "documented operations that are not served"
    );
}

#[test]
fn answers_carry_their_types_schemas() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    // The submission's 202 and the ledger's wire types are described field by field.
    let submitted = &doc["paths"]["/v1/transactions"]["post"]["responses"]["202"];
    assert_eq!(
        submitted["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Submitted"
    );
    for (schema, field) in [
        ("BlockHeader", "state_root"),
        ("Receipt", "events"),
        ("Transaction", "operation"),
        ("ApiError", "error"),
        ("RequestView", "request"),
    ] {
        assert!(
            schemas[schema]["properties"].get(field).is_some(),
            "{schema} lacks {field}: {}",
            schemas[schema]
        );
    }
    assert_eq!(schemas["Hash32"]["pattern"], "^[0-9a-f]{64}$");
    assert_eq!(schemas["AccountId"]["pattern"], "^[0-9a-f]{40}$");
}
