//! One module per Lambda function. Each has its state (built once per cold start from the
//! settings it reads, see `portcullis_core::settings`), its handler, and `DYNAMODB`: the storage
//! ports it uses, whose declared DynamoDB access is what its IAM policy must grant.
pub mod authorize;
pub mod dev_login;
pub mod introspect;
pub mod me;
pub mod metadata;
pub mod refresh;
pub mod revoke;
pub mod token;

use portcullis_core::ports::{dynamodb_needs, DynamoAccess, Table};

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
                (Table::Clients, None, vec!["dynamodb:GetItem"]),
                (Table::Codes, None, vec!["dynamodb:PutItem"]),
            ]
        );
        let tokens_rw = vec![
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ];
        // Reads and the transaction's check only: failed authentications are counted in
        // memory (`portcullis_core::throttle`), never on the client item.
        // BatchGetItem: a refresh reads its token and its client's current registration in
        // one request (review finding 4).
        let clients = vec![
            "dynamodb:BatchGetItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:GetItem",
        ];
        assert_eq!(
            needs(token::DYNAMODB),
            vec![
                (Table::Clients, None, clients.clone()),
                // A code is consumed by marking it (UpdateItem), never deleted.
                (
                    Table::Codes,
                    None,
                    vec!["dynamodb:GetItem", "dynamodb:UpdateItem"]
                ),
                (Table::Tokens, None, tokens_rw.clone()),
                (Table::Tokens, Some("by_grant"), vec!["dynamodb:Query"]),
            ]
        );
        // The refresh transaction does not touch the client item (it was read with the token).
        assert_eq!(
            needs(refresh::DYNAMODB),
            vec![
                (
                    Table::Clients,
                    None,
                    vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"]
                ),
                (Table::Tokens, None, tokens_rw),
                (Table::Tokens, Some("by_grant"), vec!["dynamodb:Query"]),
            ]
        );
        // The token and its client's standing in one request; no write anywhere.
        assert_eq!(
            needs(me::DYNAMODB),
            vec![
                (Table::Clients, None, vec!["dynamodb:BatchGetItem"]),
                (Table::Tokens, None, vec!["dynamodb:BatchGetItem"]),
            ]
        );
        // RFC 7009: an access token is one conditional DeleteItem; a refresh token's grant is
        // revoked as a replayed code's is.
        assert_eq!(
            needs(revoke::DYNAMODB),
            vec![
                (Table::Clients, None, vec!["dynamodb:GetItem"]),
                (
                    Table::Tokens,
                    None,
                    vec![
                        "dynamodb:BatchWriteItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:GetItem",
                        "dynamodb:UpdateItem"
                    ]
                ),
                (Table::Tokens, Some("by_grant"), vec!["dynamodb:Query"]),
            ]
        );
        // RFC 7662: reads only.
        assert_eq!(
            needs(introspect::DYNAMODB),
            vec![
                (
                    Table::Clients,
                    None,
                    vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"]
                ),
                (
                    Table::Tokens,
                    None,
                    vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"]
                ),
            ]
        );
        // RFC 8414: no table at all.
        assert_eq!(needs(metadata::DYNAMODB), vec![]);
    }
}
