//! template.yaml's dashboard serving (section 7): a private, encrypted bucket read only by
//! the distribution (Origin Access Control, `AWS:SourceArn`), the SPA rewrite instead of
//! error pages, the local server's CSP, `/api/*` uncached to the HTTP API, the outputs the
//! deploy script reads, and `CORS_ORIGINS` passed to every function. Text checks (the
//! template's YAML has CloudFormation tags); `cfn-lint template.yaml` checks the schema.

use tollgate_local::dashboard::CONTENT_SECURITY_POLICY;

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).expect("template.yaml")
}

/// The text of a top-level entry of a section (`  Name:` up to the next line indented two
/// spaces or less).
fn entry<'a>(template: &'a str, name: &str) -> &'a str {
    let head = format!("\n  {name}:\n");
    let start = template.find(&head).unwrap_or_else(|| panic!("template.yaml has no {name}")) + 1;
    let mut at = start + head.len() - 1;
    for line in template[at..].split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if !line.trim().is_empty() && indent <= 2 {
            break;
        }
        at += line.len();
    }
    &template[start..at]
}

#[test]
fn the_dashboard_bucket_is_private_encrypted_and_read_only_by_the_distribution() {
    let t = template();
    let bucket = entry(&t, "DashboardBucket");
    assert!(bucket.contains("Type: AWS::S3::Bucket"), "{bucket}");
    for block in
        ["BlockPublicAcls: true", "BlockPublicPolicy: true", "IgnorePublicAcls: true", "RestrictPublicBuckets: true"]
    {
        assert!(bucket.contains(block), "{block}");
    }
    assert!(bucket.contains("SSEAlgorithm:") && bucket.contains("BucketOwnerEnforced"));
    assert!(!bucket.contains("WebsiteConfiguration"), "no public website endpoint");

    let policy = entry(&t, "DashboardBucketPolicy");
    assert!(policy.contains("Service: cloudfront.amazonaws.com"));
    let allows = policy.matches("Effect: Allow").count();
    let scoped = policy.matches("AWS:SourceArn: !Sub arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${DashboardDistribution}").count();
    assert_eq!((allows, scoped), (2, 2), "every Allow is for this distribution only: {policy}");
    assert!(!policy.contains("Principal: '*'\n            Action: s3:GetObject"), "{policy}");

    let oac = entry(&t, "DashboardOriginAccessControl");
    assert!(oac.contains("OriginAccessControlOriginType: s3") && oac.contains("SigningBehavior: always"));
}

#[test]
fn the_distribution_serves_the_app_with_the_local_csp_and_forwards_the_api_uncached() {
    let t = template();
    let dist = entry(&t, "DashboardDistribution");
    assert!(dist.contains("DefaultRootObject: index.html"));
    assert!(dist.contains("OriginAccessControlId: !GetAtt DashboardOriginAccessControl.Id"));
    assert!(dist.contains("DomainName: !Sub ${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"));
    assert!(!dist.contains("CustomErrorResponses"), "error pages would hide the API's errors");
    assert!(dist.contains("EventType: viewer-request") && dist.contains("DashboardSpaRewrite.FunctionARN"));

    // /api/*: the HTTP API, every method, CachingDisabled + AllViewerExceptHostHeader.
    let api = &dist[dist.find("PathPattern: /api/*").expect("an /api/* behaviour")..];
    assert!(api.contains("TargetOriginId: api"));
    for method in ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"] {
        assert!(api.contains(&format!("- {method}\n")), "{method}");
    }
    assert!(api.contains("CachePolicyId: 4135ea2d-6df8-44a3-9df3-4b5a84be39ad"), "managed CachingDisabled");
    assert!(api.contains("OriginRequestPolicyId: b689b0a8-53d0-40ab-baf2-68738e2966ac"), "AllViewerExceptHostHeader");

    // The app's headers are the local server's.
    let headers = entry(&t, "DashboardResponseHeadersPolicy");
    let csp = headers
        .lines()
        .find_map(|l| l.trim().strip_prefix("ContentSecurityPolicy: \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("a CSP value");
    assert_eq!(csp, CONTENT_SECURITY_POLICY, "template.yaml's CSP is local/src/dashboard.rs's");
    assert!(headers.contains("FrameOption: DENY") && headers.contains("ReferrerPolicy: no-referrer"));
    assert!(headers.contains("ContentTypeOptions:"));

    // The rewrite leaves /api and files alone, sends extension-less paths to /index.html.
    let function = entry(&t, "DashboardSpaRewrite");
    assert!(function.contains("uri.startsWith('/api/')") && function.contains("request.uri = '/index.html'"));
}

#[test]
fn the_outputs_the_deploy_script_reads_exist_and_cors_origins_reaches_every_function() {
    let t = template();
    let outputs = &t[t.find("\nOutputs:\n").expect("Outputs")..];
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/deploy-dashboard.sh"))
        .expect("scripts/deploy-dashboard.sh");
    for name in ["DashboardUrl", "DashboardBucketName", "DashboardDistributionId"] {
        assert!(outputs.contains(&format!("\n  {name}:\n")), "output {name}");
        assert!(script.contains(&format!("output {name}")), "the deploy script reads {name}");
    }
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Makefile")).unwrap();
    let deploy = &makefile[makefile.find("\ndeploy: ").expect("make deploy")..];
    assert!(
        deploy.split("\n\n").next().unwrap().contains("bash scripts/deploy-dashboard.sh"),
        "make deploy uploads it"
    );
    let param = entry(&t, "CorsOrigins");
    assert!(param.contains("Default: ''"), "no CORS by default: {param}");
    let globals = &t[t.find("\nGlobals:\n").unwrap()..t.find("\nResources:\n").unwrap()];
    assert!(globals.contains("CORS_ORIGINS: !Ref CorsOrigins"), "every function gets CORS_ORIGINS");
}
