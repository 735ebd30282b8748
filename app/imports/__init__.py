"""`winback import FILE`: history files loaded in bulk with the API's semantics.

- `readers`: each format (winback's event JSON lines, a generic orders CSV with a column mapping,
  Shopify's admin order export) turns a file's lines into rows of envelopes, with their line.
- `prepare`: every envelope validated as the API validates it (`event_adapter`, `check`), its
  canonical body and digest computed; rows grouped into chunks.
- `loader`: one chunk in one transaction (COPY into a staging table, set-based insert into
  `event`, the touched clients created, their attributes merged and their facts marked behind
  their events); then every marked client re-folded from all its stored events, assessed and
  stored by `app.clients.service`, as the write path would.
- `service`: the run (progress, errors file, summary); `progress`: the bar or the plain lines.
"""
