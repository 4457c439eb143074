"""Seeds the example bookings table (functions/list-bookings) of the local stack: a few bookings
for each user named on the command line. Run by `make dev` (xtask/src/dev.rs) in the stack's
environment (AWS_ENDPOINT_URL points at moto; PORTCULLIS_BOOKINGS_TABLE names the table)."""
import os
import sys

import boto3

ROWS = [
    ("b-001", "Intro call", "2026-12-01T09:00:00Z", "2026-12-01T09:30:00Z"),
    ("b-002", "Design review", "2026-12-02T14:00:00Z", "2026-12-02T15:00:00Z"),
    ("b-003", "1:1", "2026-12-03T10:00:00Z", "2026-12-03T10:30:00Z"),
]


def main(users):
    dynamodb = boto3.resource(
        "dynamodb",
        region_name=os.environ["AWS_REGION"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    )
    table = dynamodb.Table(os.environ["PORTCULLIS_BOOKINGS_TABLE"])
    for user in users:
        for booking_id, title, start, end in ROWS:
            table.put_item(
                Item={
                    "user_sub": user,
                    "booking_id": booking_id,
                    "title": title,
                    "start_time": start,
                    "end_time": end,
                }
            )


if __name__ == "__main__":
    main(sys.argv[1:])
