//! Lambda `list-bookings`: `GET /api/bookings`, a product's own API protected by Portcullis.
//! This is the example to copy: from Portcullis it needs only `portcullis-resource`.
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{service_fn, Body, Error, Request, Response};
use portcullis_resource::{json, Authenticator, ResourceError, Subject};
use serde::{Deserialize, Serialize};

/// A row of the product's own bookings table (key: `user_sub`, `booking_id`).
#[derive(Serialize, Deserialize)]
struct Booking {
    booking_id: String,
    title: String,
    start_time: String,
    end_time: String,
}

struct App {
    auth: Authenticator,
    db: aws_sdk_dynamodb::Client,
    bookings_table: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Cold start, once: Portcullis's tokens table (PORTCULLIS_TOKENS_TABLE) and our own table.
    let app = &App {
        auth: Authenticator::from_env().await?,
        db: aws_sdk_dynamodb::Client::new(&portcullis_resource::aws_config().await),
        bookings_table: std::env::var("PORTCULLIS_BOOKINGS_TABLE")
            .map_err(|_| "PORTCULLIS_BOOKINGS_TABLE is not set")?,
    };
    lambda_http::run(service_fn(move |req: Request| async move {
        // An access token or an API key (header or ?apiKey=) with READ_BOOKING; one DynamoDB call.
        Ok::<_, Error>(match app.auth.authenticate(&req, &["READ_BOOKING"]).await {
            // The caller's own bookings: a client's own token (client credentials) names no
            // user, so it is refused here (401 invalid_token, saying why).
            Ok(who) => match who.require_user() {
                Ok(user) => list_bookings(app, &user.sub).await,
                Err(e) => ResourceError::from(e).into_response(),
            },
            // 401, 403 or 400 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), or 503.
            Err(e) => e.into_response(),
        })
    }))
    .await
}

/// `{"bookings": [...]}`: the caller's own bookings, whoever's credential it was.
async fn list_bookings(app: &App, sub: &Subject) -> Response<Body> {
    let rows = app
        .db
        .query()
        .table_name(&app.bookings_table)
        .key_condition_expression("user_sub = :sub")
        .expression_attribute_values(":sub", AttributeValue::S(sub.to_string()))
        .send()
        .await
        .map_err(Error::from)
        .and_then(|out| Ok(serde_dynamo::from_items(out.items.unwrap_or_default())?));
    match rows {
        Ok(bookings) => json(200, &Bookings { bookings }),
        Err(e) => {
            eprintln!("listing bookings failed: {e}");
            json(
                503,
                &Unavailable {
                    error: "temporarily_unavailable",
                },
            )
        }
    }
}

#[derive(Serialize)]
struct Bookings {
    bookings: Vec<Booking>,
}

#[derive(Serialize)]
struct Unavailable {
    error: &'static str,
}
