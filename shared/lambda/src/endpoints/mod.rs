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
        assert_eq!(
            needs(token::DYNAMODB),
            vec![
                (
                    Table::Clients,
                    None,
                    vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"]
                ),
                // A code is consumed by marking it (UpdateItem), never deleted.
                (
                    Table::Codes,
                    None,
                    vec!["dynamodb:GetItem", "dynamodb:UpdateItem"]
                ),
                (Table::Tokens, None, grants),
            ]
        );
        // A refresh reads the grant with its client, and moves the grant in one UpdateItem.
        assert_eq!(
            needs(refresh::DYNAMODB),
            vec![
                (Table::Clients, None, vec!["dynamodb:BatchGetItem"]),
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
                (Table::Clients, None, vec!["dynamodb:BatchGetItem"]),
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
                (Table::Clients, None, vec!["dynamodb:BatchGetItem"]),
                (Table::Tokens, None, vec!["dynamodb:BatchGetItem"]),
            ]
        );
        // RFC 8414: no table at all.
        assert_eq!(needs(metadata::DYNAMODB), vec![]);
    }
}
