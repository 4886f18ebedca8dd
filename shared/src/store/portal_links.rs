//! Portal links: one item per link (`PORTAL#<SHA-256 of the token>`, with its mint and
//! end times, gone by TTL a day after it ends) and, on the workspace item, the time of the
//! last revoke (`portal_revoked_ms`), which ends every link minted before it in one write.

use super::{applied, keys, n, number_attribute, s, Store, StoreError, StoreResult};
use crate::domain::{PortalLink, PortalToken, WorkspaceId};

/// Sort-key prefix of portal links.
const PORTAL_PREFIX: &str = "PORTAL#";
/// The workspace item's attribute holding the last revoke (ms).
const REVOKED: &str = "portal_revoked_ms";

impl Store {
    /// Keeps a new link of `ws`; false when the workspace does not exist.
    pub async fn save_portal_link(
        &self,
        ws: &WorkspaceId,
        token: &PortalToken,
        link: PortalLink,
    ) -> StoreResult<bool> {
        if !self.workspace_exists(ws).await? {
            return Ok(false);
        }
        self.db
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::workspace_pk(ws)))
            .item("sk", s(format!("{PORTAL_PREFIX}{}", token.hash())))
            .item("minted_ms", n(link.minted_ms))
            .item("expires_ms", n(link.expires_ms))
            .item(
                super::schema::TTL_ATTRIBUTE,
                n(link.expires_ms / 1_000 + 86_400),
            )
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(true)
    }

    /// Ends every link of `ws` minted at or before `at_ms`; false when the workspace does
    /// not exist.
    pub async fn revoke_portal_links(&self, ws: &WorkspaceId, at_ms: i64) -> StoreResult<bool> {
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET #revoked = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_values(":at", n(at_ms))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// The link a token names, if any, with the workspace's last revoke (two consistent
    /// reads at once: a revoke is seen at once).
    pub async fn portal_link(
        &self,
        ws: &WorkspaceId,
        token: &PortalToken,
    ) -> StoreResult<(Option<PortalLink>, Option<i64>)> {
        let link = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(format!("{PORTAL_PREFIX}{}", token.hash())))
            .consistent_read(true)
            .send();
        let revoked = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::META))
            .projection_expression("#revoked")
            .expression_attribute_names("#revoked", REVOKED)
            .consistent_read(true)
            .send();
        let (link, revoked) = futures::join!(link, revoked);
        let link = link.map_err(|e| StoreError::dynamo("GetItem", e))?.item;
        let revoked = revoked.map_err(|e| StoreError::dynamo("GetItem", e))?.item;
        let link = match link {
            None => None,
            Some(item) => Some(PortalLink {
                minted_ms: number_attribute(&item, "minted_ms")
                    .ok_or_else(|| StoreError::Corrupt("portal link without minted_ms".into()))?,
                expires_ms: number_attribute(&item, "expires_ms")
                    .ok_or_else(|| StoreError::Corrupt("portal link without expires_ms".into()))?,
            }),
        };
        Ok((
            link,
            revoked.and_then(|item| number_attribute(&item, REVOKED)),
        ))
    }

    /// Whether the workspace item exists (consistent).
    async fn workspace_exists(&self, ws: &WorkspaceId) -> StoreResult<bool> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::META))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.is_some())
    }
}
