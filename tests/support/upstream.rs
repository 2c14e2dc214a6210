//! Upstreams on 127.0.0.1 that answer as told and record what they received (wiremock).

/// An upstream answering `GET` on each path with its template.
pub async fn upstream_answering(
    answers: Vec<(&str, wiremock::ResponseTemplate)>,
) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    for (p, answer) in answers {
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(p))
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    server
}

/// An upstream on 127.0.0.1 that answers every request with 200 `{}` and records it.
pub async fn upstream_answering_ok() -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    server
}
