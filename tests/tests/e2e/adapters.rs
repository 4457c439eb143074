//! The DynamoDB adapters (`portcullis-aws`: one per table) against moto, on the real AWS SDK
//! code path.
use crate::common::now;
use portcullis_aws::{DynamoClients, DynamoCodes, DynamoTokens};
use portcullis_core::clock::OsEntropy;
use portcullis_core::codec::{mint_access, mint_refresh};
use portcullis_core::ids::{ClientId, GrantId};
use portcullis_core::model::{Client, CodeRecord, Grant};
use portcullis_core::ports::{
    AccessRevocation, AccessSlot, ClientLookup, ClientRegistry, CodeIssue, CodeRedeem, Consumed,
    GrantAdvance, GrantLookup, GrantRead, GrantRevocation, GrantStart, Presenter,
};
use portcullis_core::secret::{AuthorizationCode, ClientSecret, SecretHash};
use portcullis_core::testkit;
use portcullis_e2e::Stack;

fn code_record(code: &AuthorizationCode, client_id: &str, expires_at: u64) -> CodeRecord {
    CodeRecord {
        pk: code.hash(),
        client_id: ClientId::new(client_id),
        client_public: false,
        client_secret_hashes: vec![SecretHash::of("pc_cs_x")],
        redirect_uri: testkit::REDIRECT_URI.into(),
        redirect_uri_explicit: true,
        scopes: vec!["READ_PROFILE".into()],
        resource: None,
        // sub "u1", username "ada", no email or name.
        user: testkit::user("u1"),
        code_challenge: None,
        client_refresh_rotation: true,
        created_at: now(),
        expires_at,
        consumed_at: None,
    }
}

/// Consumes a code as its client (`c1` with secret `pc_cs_x`); the record when it was live (as
/// it was before: the returned item is checked to be marked consumed at `at`).
async fn consume(codes: &DynamoCodes, hash: &SecretHash, at: u64) -> Option<CodeRecord> {
    let secret = SecretHash::of("pc_cs_x");
    let presenter = Presenter {
        client_id: &ClientId::new("c1"),
        secret_hash: Some(&secret),
        pkce: None,
    };
    match codes.consume_code(hash, at, presenter).await.unwrap() {
        Consumed::Now(mut rec) => {
            assert_eq!(rec.consumed_at, Some(at), "marked consumed");
            rec.consumed_at = None;
            Some(rec)
        }
        Consumed::Refused(_) => None,
    }
}

/// `prefix` and 64 random bits in hex: a client id no other test uses.
fn fresh_id(prefix: &str) -> String {
    let mut id = [0u8; 8];
    portcullis_core::clock::Entropy::fill(&OsEntropy, &mut id);
    format!(
        "{prefix}{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// A confidential client "App" with `secret`, registered under a fresh id.
async fn new_client(clients: &DynamoClients, secret: &ClientSecret) -> Client {
    let mut client = testkit::client(&fresh_id("c-"))
        .secrets(&[secret.secret()])
        .redirect_uris(&[testkit::REDIRECT_URI])
        .scopes(&["READ_PROFILE"])
        .build();
    client.created_at = now();
    clients.create_client(&client).await.unwrap();
    client
}

/// A fresh code (tagged with the test keys: these tests call the adapters directly).
fn new_code() -> AuthorizationCode {
    AuthorizationCode::generate_tagged(&OsEntropy, &testkit::test_keys().tag)
}

/// A grant of `client` as an exchange writes it, with its generation-0 token hashes.
fn grant_of(client: &Client) -> Grant {
    testkit::minted_grant(
        &testkit::test_keys(),
        client.client_id.as_str(),
        "u1",
        now(),
    )
    .0
}

/// RFC 6749 §4.1.2 and Cal.com's weakness 1: of 20 concurrent redemptions of one code, exactly
/// one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consume_of_one_code_from_20_tasks_has_exactly_one_winner() {
    // A moto of its own: the shared one loses writes to tables a concurrent test's failed
    // transaction names (moto restores a copy of them), which would fake a second winner or none.
    let moto = Stack::get().serial_stores().await;
    let codes = moto.stores().codes.clone();
    for _round in 0..3 {
        let code = new_code();
        codes
            .put_code(&code_record(&code, "c1", now() + 600))
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let codes = codes.clone();
            let hash = code.hash();
            tasks.spawn(async move { consume(&codes, &hash, now()).await });
        }
        let mut winners = 0;
        while let Some(r) = tasks.join_next().await {
            if let Some(rec) = r.unwrap() {
                assert_eq!(rec.pk, code.hash());
                winners += 1;
            }
        }
        assert_eq!(winners, 1);
    }
}

#[tokio::test]
async fn consume_returns_the_whole_code_record_once() {
    let codes = Stack::get().stores().await.codes;
    let code = new_code();
    let rec = code_record(&code, "c1", now() + 600);
    codes.put_code(&rec).await.unwrap();
    assert_eq!(consume(&codes, &code.hash(), now()).await, Some(rec));
    assert_eq!(consume(&codes, &code.hash(), now()).await, None);
}

/// RFC 6749 §3.2.1: the consuming write carries the client authentication: a wrong secret or
/// another client id changes nothing, and the refusal returns the item for the replay rules.
#[tokio::test]
async fn a_code_is_not_consumed_by_a_presenter_that_is_not_its_client() {
    let codes = Stack::get().stores().await.codes;
    let code = new_code();
    let rec = code_record(&code, "c1", now() + 600);
    codes.put_code(&rec).await.unwrap();
    let wrong = SecretHash::of("pc_cs_wrong");
    for presenter in [
        Presenter {
            client_id: &ClientId::new("c1"),
            secret_hash: Some(&wrong),
            pkce: None,
        },
        Presenter {
            client_id: &ClientId::new("c1"),
            secret_hash: None,
            pkce: None,
        },
        Presenter {
            client_id: &ClientId::new("c2"),
            secret_hash: Some(&SecretHash::of("pc_cs_x")),
            pkce: None,
        },
    ] {
        assert_eq!(
            codes
                .consume_code(&code.hash(), now(), presenter)
                .await
                .unwrap(),
            Consumed::Refused(Some(rec.clone()))
        );
    }
    let used = consume(&codes, &code.hash(), now()).await;
    assert_eq!(used, Some(rec));
    // Used: refused.
    assert_eq!(consume(&codes, &code.hash(), now()).await, None);
}

/// RFC 7636 §4.6: a public client proves it is the code's client by its verifier, inside the
/// consuming delete's condition: a wrong or missing verifier burns nothing.
#[tokio::test]
async fn a_public_clients_code_is_consumed_only_with_its_verifier() {
    use portcullis_core::pkce::CodeChallenge;
    let codes = Stack::get().stores().await.codes;
    let code = new_code();
    let challenge = CodeChallenge::s256(testkit::VERIFIER);
    let rec = CodeRecord {
        client_public: true,
        client_secret_hashes: Vec::new(),
        code_challenge: Some(challenge.clone()),
        ..code_record(&code, "pub1", now() + 600)
    };
    codes.put_code(&rec).await.unwrap();
    let wrong = CodeChallenge::s256(&"w".repeat(43));
    for pkce in [None, Some(&wrong)] {
        let presenter = Presenter {
            client_id: &ClientId::new("pub1"),
            secret_hash: None,
            pkce,
        };
        assert_eq!(
            codes
                .consume_code(&code.hash(), now(), presenter)
                .await
                .unwrap(),
            Consumed::Refused(Some(rec.clone()))
        );
    }
    let presenter = Presenter {
        client_id: &ClientId::new("pub1"),
        secret_hash: None,
        pkce: Some(&challenge),
    };
    let t = now();
    assert_eq!(
        codes
            .consume_code(&code.hash(), t, presenter)
            .await
            .unwrap(),
        Consumed::Now(CodeRecord {
            consumed_at: Some(t),
            ..rec
        })
    );
}

/// TTL deletes late: the condition checks `expires_at` itself.
#[tokio::test]
async fn an_expired_code_still_in_the_table_is_not_consumed() {
    let codes = Stack::get().stores().await.codes;
    let code = new_code();
    codes
        .put_code(&code_record(&code, "c1", now() + 5))
        .await
        .unwrap();
    assert_eq!(consume(&codes, &code.hash(), now() + 5).await, None);
    assert!(
        consume(&codes, &code.hash(), now()).await.is_some(),
        "still there, unexpired at now"
    );
}

/// A grant is one item: written once, read with its client in one BatchGetItem (strongly
/// consistent or not), and never mistaken for an API key or another kind of item.
#[tokio::test]
async fn a_grant_is_one_item_read_with_its_client_in_one_call() {
    let stores = Stack::get().stores().await;
    let tokens = &stores.tokens;
    let secret = ClientSecret::generate(&OsEntropy);
    let client = new_client(&stores.clients, &secret).await;
    let g = grant_of(&client);
    let grant = g.grant_id.clone();
    assert!(tokens.start_grant(&g).await.unwrap());
    for consistent in [true, false] {
        let (found, clients) = tokens
            .grant_and_clients(&grant, &[&client.client_id], consistent)
            .await
            .unwrap();
        if consistent {
            assert_eq!(found.as_ref(), Some(&g), "the item round-trips as written");
        }
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].client_id, client.client_id);
    }
    let (none, nobody) = tokens
        .grant_and_clients(
            &GrantId::new("g_never"),
            &[&ClientId::new("c-nobody")],
            true,
        )
        .await
        .unwrap();
    assert!(none.is_none() && nobody.is_empty());
    assert_eq!(tokens.grant(&grant).await.unwrap().as_ref(), Some(&g));
}

/// The refresh's one write: conditional on the generation read and on the grant being live,
/// so of two writers of one generation exactly one succeeds, and nothing moves a revoked grant.
#[tokio::test]
async fn a_grant_advances_once_per_generation_and_never_after_its_revocation() {
    // Failed conditions below: tables of their own (see `Stack::private_stores`).
    let stores = Stack::get().private_stores("advance").await;
    let tokens = &stores.tokens;
    let secret = ClientSecret::generate(&OsEntropy);
    let client = new_client(&stores.clients, &secret).await;
    let g = grant_of(&client);
    let grant = g.grant_id.clone();
    assert!(tokens.start_grant(&g).await.unwrap());
    assert!(
        !tokens.start_grant(&g).await.unwrap(),
        "one code, one grant"
    );
    let keys = testkit::test_keys();
    let next = Grant {
        generation: 1,
        rotated_at: now() + 1,
        refresh_hash: Some(mint_refresh(keys.issuing(), &grant, 1).hash()),
        access_hash: Some(mint_access(keys.issuing(), &client.client_id, &grant, 1).hash()),
        previous_access_hash: g.access_hash.clone(),
        previous_access_expires_at: g.access_expires_at,
        access_scopes: Some(vec!["READ_PROFILE".into()]),
        refreshed_at: Some(now() + 1),
        ..g.clone()
    };
    assert!(tokens.advance(&next, 0).await.unwrap());
    assert!(
        !tokens.advance(&next, 0).await.unwrap(),
        "generation 0 is gone"
    );
    let stored = tokens.grant(&grant).await.unwrap().unwrap();
    assert_eq!(stored, next, "every field the refresh sets is written");
    // RFC 7009: one access token ends; the grant lives on.
    let prev = g.access_hash.clone().unwrap();
    assert!(!tokens
        .revoke_access(&grant, AccessSlot::Current, &prev)
        .await
        .unwrap());
    assert!(tokens
        .revoke_access(&grant, AccessSlot::Previous, &prev)
        .await
        .unwrap());
    assert_eq!(
        tokens
            .grant(&grant)
            .await
            .unwrap()
            .unwrap()
            .previous_access_hash,
        None
    );
    // Revocation: one write; then nothing moves the grant, and revoking again changes nothing.
    assert!(tokens.revoke_grant(&grant, now()).await.unwrap());
    assert!(!tokens.revoke_grant(&grant, now()).await.unwrap());
    let moved = Grant {
        generation: 2,
        ..next.clone()
    };
    assert!(!tokens.advance(&moved, 1).await.unwrap());
    let tombstone = tokens.grant(&grant).await.unwrap().unwrap();
    assert!(tombstone.revoked_at.is_some() && tombstone.generation == 1);
    assert!(
        !tokens.start_grant(&g).await.unwrap(),
        "a tombstone cannot be overwritten"
    );
    assert!(!tokens
        .revoke_grant(&GrantId::new("g_never"), now())
        .await
        .unwrap());
}

#[tokio::test]
async fn client_ids_are_registered_once() {
    let clients = Stack::get().stores().await.clients;
    let secret = ClientSecret::generate(&OsEntropy);
    let client = new_client(&clients, &secret).await;
    assert_eq!(
        clients.client(&client.client_id).await.unwrap(),
        Some(client.clone())
    );
    assert!(clients.create_client(&client).await.is_err());
    assert_eq!(
        clients
            .client(&ClientId::new("no-such-client"))
            .await
            .unwrap(),
        None
    );
}

/// AWS faults end as a 503 with an RFC error, nothing internal in the body.
#[tokio::test]
async fn an_unreachable_dynamodb_is_503_temporarily_unavailable() {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    use portcullis_core::settings::{env, FromEnv, TokenSettings};
    use portcullis_lambda::endpoints::token::TokenEndpoint;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{closed}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "e2e"))
        .load()
        .await;
    let db = portcullis_aws::sdk::dynamodb(&sdk);
    let tables = portcullis_e2e::tables();
    let codes = DynamoCodes::new(db.clone(), &tables.codes);
    let presenter = Presenter {
        client_id: &ClientId::new("c1"),
        secret_hash: None,
        pkce: None,
    };
    let err = codes
        .consume_code(&SecretHash::of("x"), now(), presenter)
        .await
        .unwrap_err();
    assert!(
        matches!(err, portcullis_core::error::StoreError::Unavailable(_)),
        "{err:?}"
    );

    let settings = TokenSettings::from_lookup(|k| match k {
        env::CLIENTS_TABLE
        | env::CODES_TABLE
        | env::TOKENS_TABLE
        | env::MINT_SECRET_ID
        | env::TAG_SECRET_ID
        | env::ACCESS_TAG_SECRET_ID => Some("t".into()),
        env::ISSUER => Some("http://127.0.0.1".into()),
        _ => None,
    })
    .unwrap();
    let keys = testkit::test_keys();
    let ring = |r: &portcullis_core::keyring::KeyRing| {
        portcullis_core::rings::StaticRing::boxed(r.clone())
    };
    let endpoint = TokenEndpoint {
        clients: DynamoClients::new(db.clone(), &settings.clients_table),
        tokens: DynamoTokens::with_clients(db, &settings.tokens_table, &settings.clients_table),
        codes,
        settings,
        clock: Box::new(portcullis_core::clock::SystemClock),
        entropy: Box::new(OsEntropy),
        mint: ring(&keys.mint),
        tag: ring(&keys.tag),
        access_tag: ring(&keys.access_tag),
    };
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:1/api/auth/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(lambda_http::Body::Text(format!(
            "grant_type=authorization_code&code={}&client_id=c",
            new_code().secret()
        )))
        .unwrap();
    let resp = portcullis_lambda::respond(&endpoint, req).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    assert!(
        !body.to_lowercase().contains("dispatch") && !body.contains("127.0.0.1"),
        "{body}"
    );
}

/// A consumed code is marked, not deleted: a second consume is refused and reads the item back
/// as consumed, which is what lets its own client redeem it when nothing was issued.
#[tokio::test]
async fn a_consumed_code_stays_marked_and_is_never_consumed_twice() {
    let codes = Stack::get().stores().await.codes;
    let code = new_code();
    let rec = code_record(&code, "c1", now() + 600);
    codes.put_code(&rec).await.unwrap();
    let t = now();
    assert_eq!(consume(&codes, &code.hash(), t).await, Some(rec.clone()));
    let secret = SecretHash::of("pc_cs_x");
    let presenter = Presenter {
        client_id: &ClientId::new("c1"),
        secret_hash: Some(&secret),
        pkce: None,
    };
    assert_eq!(
        codes
            .consume_code(&code.hash(), t + 1, presenter)
            .await
            .unwrap(),
        Consumed::Refused(Some(CodeRecord {
            consumed_at: Some(t),
            ..rec
        }))
    );
}

/// Issue 17: a client's own token is one small item with none of the tokens table's index key
/// attributes (so its PutItem writes no index entry and is one write unit); it reads back as
/// the grant written, through both reads; revoking its token and the grant work on it.
#[tokio::test]
async fn a_machine_grant_is_one_small_item_with_no_index_key() {
    let stack = Stack::get();
    let stores = stack.stores().await;
    let tokens = &stores.tokens;
    let secret = ClientSecret::generate(&OsEntropy);
    let client = new_client(&stores.clients, &secret).await;
    let keys = crate::common::stack_keys().await;
    let id = GrantId::new(portcullis_core::secret::generate("g_", &OsEntropy));
    let access = mint_access(keys.issuing(), &client.client_id, &id, 0);
    let g = Grant::machine(
        id.clone(),
        client.client_id.clone(),
        vec!["READ_BOOKING".into()],
        now(),
        now() + 1800,
        Some(access.hash()),
    );
    assert!(tokens.start_grant(&g).await.unwrap());
    assert!(!tokens.start_grant(&g).await.unwrap(), "written once");
    let raw = aws_sdk_dynamodb::Client::new(&stack.sdk().await)
        .get_item()
        .table_name(stack.env_var(portcullis_core::settings::env::TOKENS_TABLE))
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(Grant::key(&id)),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    for index_key in ["client_id", "user_sub", "grant_id", "key_id"] {
        assert!(!raw.contains_key(index_key), "{index_key} in {raw:?}");
    }
    let size: usize = raw
        .iter()
        .map(|(k, v)| k.len() + v.as_s().map_or(8, |s| s.len()) + 8)
        .sum();
    assert!(size < 1024, "{size} bytes");
    let (found, _) = tokens
        .grant_and_clients(&id, &[&client.client_id], true)
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&g));
    assert_eq!(tokens.grant(&id).await.unwrap().as_ref(), Some(&g));
    assert!(tokens
        .revoke_access(&id, AccessSlot::Current, &access.hash())
        .await
        .unwrap());
    let after = tokens.grant(&id).await.unwrap().unwrap();
    assert!(after.access_hash.is_none() && after.is_machine());
    assert!(tokens.revoke_grant(&id, now()).await.unwrap());
}

/// `client disable` on a registered client (it has a TTL) removes the TTL in the same
/// UpdateItem, so DynamoDB never deletes the disabled item and its id stays refused (an
/// identical registration, or the same metadata-document URL, finds it disabled).
#[tokio::test]
async fn disabling_a_registered_client_removes_its_ttl() {
    use portcullis_core::ports::{ClientDisable, ClientRegistration, Registered};
    let clients = Stack::get().stores().await.clients;
    let client = testkit::client(&fresh_id("dcr_"))
        .redirect_uris(&["http://127.0.0.1/callback"])
        .expires_at(now() + 3600)
        .build();
    assert!(matches!(
        clients.register_client(&client, now()).await.unwrap(),
        Registered::New
    ));
    let stored = clients.client(&client.client_id).await.unwrap().unwrap();
    assert_eq!(stored.expires_at, client.expires_at);
    assert!(clients
        .disable_client(&client.client_id, now())
        .await
        .unwrap());
    let stored = clients.client(&client.client_id).await.unwrap().unwrap();
    assert!(stored.disabled);
    assert_eq!(stored.expires_at, None, "a disabled client has no TTL");
}
