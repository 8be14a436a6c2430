//! Users discovery by delta query against the sandbox's Graph: a first full run, an unchanged
//! run that writes nothing, a run with one addition and one removal that writes two, and a
//! stale delta link that falls back to a full resync writing nothing new.

mod common;

use common::live::Live;
use onboarding::discovery::discover_users;
use onboarding::domain::AccountId;
use onboarding::identity::graph::{GraphClient, RetryPolicy};
use onboarding::identity::http::http_client;
use onboarding::sandbox::{CONTOSO_TENANT_ID, Faults};
use onboarding::store::keys::{self, DiscoveredUserItem};
use onboarding::store::{QueryOptions, Store};
use std::time::Duration;

async fn users(live: &Live, account: &AccountId) -> Vec<DiscoveredUserItem> {
    let page = live
        .store
        .query(
            &keys::account_partition(account),
            keys::USER_PREFIX,
            QueryOptions::default(),
        )
        .await
        .unwrap();
    page.items.iter().map(|i| i.record().unwrap()).collect()
}

#[tokio::test]
async fn delta_discovery_writes_only_changes() {
    let live = Live::start().await;
    let (token, graph_url) = live.contoso().await;
    let graph = GraphClient::new(
        http_client(Duration::from_secs(5)),
        RetryPolicy {
            attempts: 2,
            max_wait: Duration::from_secs(2),
        },
    );
    let account = AccountId::new();
    let s = &live.state;
    let g = &graph_url;

    let first = discover_users(s, &graph, g, &token, &account).await.unwrap();
    assert!(first.full);
    assert_eq!((first.seen, first.added, first.writes()), (25, 25, 25));
    assert_eq!(users(&live, &account).await.len(), 25);
    let disabled = users(&live, &account).await.into_iter().filter(|u| !u.enabled).count();
    assert_eq!(disabled, 1, "accountEnabled is kept");

    let unchanged = discover_users(s, &graph, g, &token, &account).await.unwrap();
    assert!(!unchanged.full);
    assert_eq!(
        (unchanged.pages, unchanged.writes()),
        (1, 0),
        "an unchanged tenant: one request, no write"
    );

    let added = live
        .sandbox
        .add_user(CONTOSO_TENANT_ID, "New Hire", "new.hire@contoso.onmicrosoft.com")
        .unwrap();
    let gone = users(&live, &account).await[0].id.clone();
    live.sandbox.remove_user(CONTOSO_TENANT_ID, &gone);
    let changes = discover_users(s, &graph, g, &token, &account).await.unwrap();
    assert_eq!((changes.added, changes.removed, changes.writes()), (1, 1, 2));
    let now = users(&live, &account).await;
    assert_eq!(now.len(), 26, "the removed user is kept, flagged");
    assert!(now.iter().any(|u| u.id == added && !u.deleted));
    assert!(now.iter().any(|u| u.id == gone && u.deleted));

    // A Graph failure leaves the checkpoint: the next run picks up from it.
    live.sandbox.set_faults(Faults {
        graph_status: Some(500),
        ..Faults::default()
    });
    assert!(discover_users(s, &graph, g, &token, &account).await.is_err());
    live.sandbox.set_faults(Faults::default());
    assert_eq!(
        discover_users(s, &graph, g, &token, &account).await.unwrap().writes(),
        0
    );

    // A stale delta link: full resync, which writes nothing that did not change.
    live.sandbox.expire_delta_tokens();
    let resync = discover_users(s, &graph, g, &token, &account).await.unwrap();
    assert!(resync.full);
    assert_eq!((resync.seen, resync.writes()), (25, 0), "{resync:?}");
    assert_eq!(
        discover_users(s, &graph, g, &token, &account).await.unwrap().pages,
        1,
        "a fresh delta link was saved"
    );
}
