//! One module per Lambda function. Each has its state (built once per cold start from the
//! settings it reads, see `portcullis_core::settings`), its handler, and `DYNAMODB`: the storage
//! ports it uses, whose declared DynamoDB access is what its IAM policy must grant.
pub mod authorize;
pub mod dev_login;
pub mod introspect;
pub mod me;
pub mod metadata;
pub mod refresh;
pub mod register;
pub mod revoke;
pub mod token;

use portcullis_core::client_auth::{verify_assertion, AssertionPolicy, ClientCredentials};
use portcullis_core::error::EndpointError;
use portcullis_core::model::Client;
use portcullis_core::ports::{dynamodb_needs, AssertionReplay, ClientLookup, DynamoAccess, Table};
use portcullis_core::settings::AssertionSettings;

/// RFC 7523 §2.2: the request's client assertion, when it has one, checked before the
/// endpoint's rule runs (one GetItem of the client, one conditional PutItem of its `jti`);
/// `path` is the endpoint's, whose URL is an accepted `aud` beside the issuer and the token
/// endpoint's. Without an assertion: the credentials as they are, no call.
pub(crate) async fn check_assertion(
    clients: &(impl ClientLookup + ?Sized),
    replay: &(impl AssertionReplay + ?Sized),
    settings: &AssertionSettings,
    path: &str,
    creds: ClientCredentials,
    now: u64,
) -> Result<(ClientCredentials, Option<Client>), EndpointError> {
    if creds.assertion.is_none() {
        return Ok((creds, None));
    }
    let audiences = settings.audiences(path);
    let audiences: Vec<&str> = audiences.iter().map(String::as_str).collect();
    let policy = AssertionPolicy {
        audiences: &audiences,
        max_lifetime: settings.max_lifetime,
        leeway: settings.leeway,
    };
    verify_assertion(clients, replay, creds, policy, now).await
}

/// The DynamoDB access a function needs: the union of its ports' declarations.
pub fn needs(ports: &[&[DynamoAccess]]) -> Vec<(Table, Option<&'static str>, Vec<&'static str>)> {
    dynamodb_needs(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Least privilege (docs/architecture.md, "Storage ports and least privilege"): what each
    /// function's ports declare is exactly what its IAM policy must grant.
    #[test]
    fn each_function_needs_exactly_the_documented_dynamodb_actions() {
        assert_eq!(
            needs(authorize::DYNAMODB),
            vec![
                // BatchGetItem: the client with the requested resource (RFC 8707); UpdateItem: a
                // registered client's TTL, pushed forward at use (`dcr_…`, `cimd_…` only);
                // PutItem: a fetched metadata document's copy (`cimd_…` only).
                (
                    Table::Clients,
                    None,
                    vec![
                        "dynamodb:BatchGetItem",
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem"
                    ]
                ),
                (Table::Codes, None, vec!["dynamodb:PutItem"]),
            ]
        );
        // One item per grant: a grant is put once, moved and revoked by UpdateItem, read by
        // GetItem or with its client by BatchGetItem. No transaction, no delete, no index on
        // the hot path, and nothing that writes a client (failed authentications are counted
        // in memory, `portcullis_core::throttle`).
        let grants = vec![
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ];
        // A refresh of a registered client may push its TTL forward (UpdateItem, `dcr_…` and
        // `cimd_…` keys only).
        let touching = (
            Table::Clients,
            None,
            vec![
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
            ],
        );
        assert_eq!(
            needs(token::DYNAMODB),
            vec![
                touching.clone(),
                // A code is consumed by marking it (UpdateItem), never deleted; a `--token-rate`
                // counter is one UpdateItem, an assertion's jti one PutItem.
                (
                    Table::Codes,
                    None,
                    vec![
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem"
                    ]
                ),
                (Table::Tokens, None, grants),
            ]
        );
        // A refresh reads the grant with its client, and moves the grant in one UpdateItem.
        // Every client-authenticating function reads a client alone and records a jti only for
        // a private_key_jwt assertion.
        let asserting = (
            Table::Clients,
            None,
            vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"],
        );
        let jti = (Table::Codes, None, vec!["dynamodb:PutItem"]);
        assert_eq!(
            needs(refresh::DYNAMODB),
            vec![
                touching,
                jti.clone(),
                (
                    Table::Tokens,
                    None,
                    vec![
                        "dynamodb:BatchGetItem",
                        "dynamodb:GetItem",
                        "dynamodb:UpdateItem"
                    ]
                ),
            ]
        );
        // The grant and its client's standing in one request; no write anywhere.
        assert_eq!(
            needs(me::DYNAMODB),
            vec![
                (Table::Clients, None, vec!["dynamodb:BatchGetItem"]),
                (Table::Tokens, None, vec!["dynamodb:BatchGetItem"]),
            ]
        );
        // RFC 7009: the grant with the client, then one UpdateItem of the grant.
        assert_eq!(
            needs(revoke::DYNAMODB),
            vec![
                asserting.clone(),
                jti.clone(),
                (
                    Table::Tokens,
                    None,
                    vec!["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
                ),
            ]
        );
        // RFC 7662: one read.
        assert_eq!(
            needs(introspect::DYNAMODB),
            vec![
                asserting,
                jti,
                (Table::Tokens, None, vec!["dynamodb:BatchGetItem"]),
            ]
        );
        // RFC 7591: one PutItem of a `dcr_…` client; the `reg#…` counters and `iat#…` uses are
        // UpdateItems. No read: an identical registration comes back with the refused write.
        assert_eq!(
            needs(register::DYNAMODB),
            vec![
                (Table::Clients, None, vec!["dynamodb:PutItem"]),
                (Table::Codes, None, vec!["dynamodb:UpdateItem"]),
            ]
        );
        // RFC 8414: no table at all.
        assert_eq!(needs(metadata::DYNAMODB), vec![]);
    }
}
