//! The example product's bookings, as its own table holds them: what `GET /api/bookings`
//! (`main.rs`) and the example MCP server's `list_bookings` tool (functions/mcp-example) return.
use aws_sdk_dynamodb::types::AttributeValue;
use portcullis_resource::Subject;
use serde::{Deserialize, Serialize};

/// A row of the product's own bookings table (key: `user_sub`, `booking_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub booking_id: String,
    pub title: String,
    pub start_time: String,
    pub end_time: String,
}

/// The product's bookings table.
#[derive(Debug, Clone)]
pub struct Bookings {
    db: aws_sdk_dynamodb::Client,
    table: String,
}

/// The variable naming the bookings table (`PORTCULLIS_BOOKINGS_TABLE`).
pub const TABLE_VAR: &str = "PORTCULLIS_BOOKINGS_TABLE";

impl Bookings {
    /// Cold start: the table from `PORTCULLIS_BOOKINGS_TABLE`, the AWS SDK's configuration as
    /// `portcullis-resource` loads it.
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var(TABLE_VAR).map_err(|_| format!("{TABLE_VAR} is not set"))?;
        Ok(Self {
            db: aws_sdk_dynamodb::Client::new(&portcullis_resource::aws_config().await),
            table,
        })
    }

    /// The user's own bookings: one Query on their partition.
    pub async fn of(
        &self,
        sub: &Subject,
    ) -> Result<Vec<Booking>, Box<dyn std::error::Error + Send + Sync>> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("user_sub = :sub")
            .expression_attribute_values(":sub", AttributeValue::S(sub.to_string()))
            .send()
            .await?;
        Ok(serde_dynamo::from_items(out.items.unwrap_or_default())?)
    }
}
