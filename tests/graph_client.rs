//! The Graph page reader against the sandbox's small Graph: paging by `@odata.nextLink`,
//! Teams by filter, throttling with `Retry-After`, 5xx, revoked consent.

mod common;

use common::live::Live;
use onboarding::clock::RecordingSleeper;
use onboarding::identity::graph::{GraphClient, GraphError, RetryPolicy};
use onboarding::identity::http::http_client;
use onboarding_sandbox::{CONTOSO_TENANT_ID, Faults};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

async fn setup() -> (Live, SecretString, String) {
    let live = Live::start().await;
    let (token, graph) = live.contoso().await;
    (live, token, graph)
}

/// A client whose waits (`Retry-After`, backoff) cost no time: `sleeper` records them.
fn client_with(attempts: u32, max_wait: Duration, sleeper: Arc<RecordingSleeper>) -> GraphClient {
    GraphClient::new(http_client(Duration::from_secs(5)), RetryPolicy { attempts, max_wait }).with_sleeper(sleeper)
}

fn client(attempts: u32, max_wait: Duration) -> GraphClient {
    client_with(attempts, max_wait, Arc::default())
}

#[tokio::test]
async fn users_are_paged_by_next_link_verbatim() {
    let (_live, token, graph) = setup().await;
    let g = client(3, Duration::from_secs(5));
    let mut url = Some(format!("{graph}/v1.0/users?$select=id,displayName,mail&$top=10"));
    let (mut ids, mut pages) = (Vec::new(), 0);
    while let Some(u) = url {
        let page = g.page(&token, &u).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        ids.extend(page.items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        url = page.next;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 25);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no duplicates");

    let teams = g
        .page(
            &token,
            &format!("{graph}/v1.0/groups?$filter=resourceProvisioningOptions/Any(x:x%20eq%20'Team')"),
        )
        .await
        .unwrap();
    assert_eq!(teams.items.len(), 2);
    let sites = g
        .page(&token, &format!("{graph}/v1.0/sites/getAllSites"))
        .await
        .unwrap();
    assert_eq!(sites.items.iter().filter(|s| s["isPersonalSite"] == true).count(), 1);
}

#[tokio::test]
async fn throttling_errors_and_revocation_are_classified() {
    let (live, token, graph) = setup().await;
    let users = format!("{graph}/v1.0/users");

    // 429 with Retry-After: 1 — waited for once, then handed back as Throttled.
    live.sandbox.set_faults(Faults {
        graph_status: Some(429),
        ..Faults::default()
    });
    let sleeper = Arc::new(RecordingSleeper::default());
    assert_eq!(
        client_with(2, Duration::from_secs(5), sleeper.clone())
            .page(&token, &users)
            .await,
        Err(GraphError::Throttled(Duration::from_secs(1)))
    );
    assert_eq!(sleeper.waits(), [Duration::from_secs(1)], "Retry-After honoured once");
    // A wait longer than allowed is not slept inside the call.
    let sleeper = Arc::new(RecordingSleeper::default());
    assert!(matches!(
        client_with(4, Duration::from_millis(100), sleeper.clone())
            .page(&token, &users)
            .await,
        Err(GraphError::Throttled(_))
    ));
    assert!(sleeper.waits().is_empty(), "nothing slept");

    live.sandbox.set_faults(Faults {
        graph_status: Some(500),
        ..Faults::default()
    });
    assert!(matches!(
        client(2, Duration::from_secs(5)).page(&token, &users).await,
        Err(GraphError::Unavailable(_))
    ));

    live.sandbox.set_faults(Faults::default());
    assert_eq!(
        client(1, Duration::from_secs(1))
            .page(&token, &users)
            .await
            .unwrap()
            .items
            .len(),
        25
    );
    live.sandbox.revoke_microsoft(CONTOSO_TENANT_ID);
    assert!(matches!(
        client(1, Duration::from_secs(1)).page(&token, &users).await,
        Err(GraphError::Denied { .. })
    ));
}

#[tokio::test]
async fn users_delta_gives_changes_only_and_stale_tokens_ask_for_a_resync() {
    let (live, token, graph) = setup().await;
    let g = client(2, Duration::from_secs(2));
    // First run: every user, paged, ending with a delta link.
    let mut url = format!("{graph}/v1.0/users/delta?$select=id,displayName,mail&$top=10");
    let mut seen = 0;
    let delta = loop {
        let page = g.page(&token, &url).await.unwrap();
        seen += page.items.len();
        match (page.next, page.delta) {
            (Some(next), None) => url = next,
            (None, Some(delta)) => break delta,
            other => panic!("a page has exactly one of nextLink and deltaLink: {other:?}"),
        }
    };
    assert_eq!(seen, 25);

    // Nothing changed: nothing comes back.
    let page = g.page(&token, &delta).await.unwrap();
    assert!(page.items.is_empty());
    let delta = page.delta.unwrap();

    // One user added, one removed: exactly those two, the removal marked.
    let added = live
        .sandbox
        .add_user(CONTOSO_TENANT_ID, "New Hire", "new.hire@contoso.onmicrosoft.com")
        .unwrap();
    let first = g
        .page(&token, &format!("{graph}/v1.0/users?$top=1"))
        .await
        .unwrap()
        .items[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    live.sandbox.remove_user(CONTOSO_TENANT_ID, &first);
    let page = g.page(&token, &delta).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0]["id"], added.as_str());
    assert_eq!(page.items[1]["id"], first.as_str());
    assert_eq!(page.items[1]["@removed"]["reason"], "deleted");

    // After seven days the token is stale: start over with a full sync.
    live.sandbox.expire_delta_tokens();
    assert_eq!(g.page(&token, &page.delta.unwrap()).await, Err(GraphError::Resync));
}
