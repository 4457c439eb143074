//! Lambda `list-bookings`: `GET /api/bookings`, a product's own API protected by Portcullis.
//! This is the example to copy: from Portcullis it needs only `portcullis-resource`.
use lambda_http::{service_fn, Body, Error, Request, Response};
use list_bookings::{Booking, Bookings};
use portcullis_resource::{json, Authenticator};
use serde::Serialize;

struct App {
    auth: Authenticator,
    bookings: Bookings,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Cold start, once: Portcullis's tokens table (PORTCULLIS_TOKENS_TABLE) and our own table.
    let app = &App {
        auth: Authenticator::from_env().await?,
        bookings: Bookings::from_env().await?,
    };
    lambda_http::run(service_fn(move |req: Request| async move {
        // An access token or an API key (header or ?apiKey=) with READ_BOOKING; one DynamoDB call.
        Ok::<_, Error>(match app.auth.authenticate(&req, &["READ_BOOKING"]).await {
            // The caller's own bookings: a client's own token (client credentials) names no
            // user, so it is refused here (401 invalid_token, saying why).
            Ok(who) => match who.require_user() {
                Ok(user) => list_bookings(app, &user.sub).await,
                Err(e) => app.auth.refuse(e, &["READ_BOOKING"]).into_response(),
            },
            // 401, 403 or 400 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), or 503.
            Err(e) => e.into_response(),
        })
    }))
    .await
}

/// `{"bookings": [...]}`: the caller's own bookings, whoever's credential it was.
async fn list_bookings(app: &App, sub: &portcullis_resource::Subject) -> Response<Body> {
    match app.bookings.of(sub).await {
        Ok(bookings) => json(200, &BookingList { bookings }),
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
struct BookingList {
    bookings: Vec<Booking>,
}

#[derive(Serialize)]
struct Unavailable {
    error: &'static str,
}
