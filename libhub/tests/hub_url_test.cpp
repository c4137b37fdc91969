#include "ragkit/hub/hub_url.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace ragkit::hub {
namespace {

TEST(HubUrl, ParsesSchemesHostsPortsAndTargets) {
  Result<Url> url = parse_url("https://huggingface.co/api/models/a/b?blobs=true");
  ASSERT_TRUE(url.ok()) << url.status().to_string();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "huggingface.co");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/api/models/a/b?blobs=true");
  EXPECT_EQ(url->to_string(), "https://huggingface.co/api/models/a/b?blobs=true");

  Result<Url> local = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->port, 8080);
  EXPECT_EQ(local->target, "/");
  EXPECT_EQ(local->authority(), "127.0.0.1:8080");

  Result<Url> v6 = parse_url("http://[::1]:9/x");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "http://[::1]:9/x");

  for (const char* bad : {"ftp://x/", "huggingface.co", "http://", "http://h:0/", "http://h:99999/",
                          "http://h/a b"}) {
    EXPECT_FALSE(parse_url(bad).ok()) << bad;
  }
}

TEST(HubUrl, ResolvesRedirectLocations) {
  const Url base = *parse_url("https://huggingface.co/org/name/resolve/main/model.safetensors");
  EXPECT_EQ(resolve_location(base, "https://cdn-lfs.hf.co/x/y?sig=1")->to_string(),
            "https://cdn-lfs.hf.co/x/y?sig=1");
  EXPECT_EQ(resolve_location(base, "//cdn.example/z")->to_string(), "https://cdn.example/z");
  EXPECT_EQ(resolve_location(base, "/api/other")->to_string(), "https://huggingface.co/api/other");
  EXPECT_EQ(resolve_location(base, "sibling.json")->to_string(),
            "https://huggingface.co/org/name/resolve/main/sibling.json");
  EXPECT_FALSE(resolve_location(base, "").ok());
}

TEST(HubUrl, ParsesProxies) {
  Result<Url> plain = parse_proxy("proxy.local:3128");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "proxy.local");
  EXPECT_EQ(plain->port, 3128);
  Result<Url> with_user = parse_proxy("http://me:pw@proxy.local:8080/");
  ASSERT_TRUE(with_user.ok());
  EXPECT_EQ(with_user->user, "me");
  EXPECT_EQ(with_user->password, "pw");
  EXPECT_FALSE(parse_proxy("not a proxy").ok());
}

TEST(HubUrl, NoProxyMatchesAsCurlDoes) {
  EXPECT_FALSE(bypasses_proxy("huggingface.co", 443, ""));
  EXPECT_TRUE(bypasses_proxy("huggingface.co", 443, "*"));
  EXPECT_TRUE(bypasses_proxy("huggingface.co", 443, "example.com, huggingface.co"));
  EXPECT_TRUE(bypasses_proxy("cdn-lfs.huggingface.co", 443, "huggingface.co"));
  EXPECT_TRUE(bypasses_proxy("cdn-lfs.huggingface.co", 443, ".huggingface.co"));
  EXPECT_TRUE(bypasses_proxy("cdn-lfs.huggingface.co", 443, "*.huggingface.co"));
  EXPECT_TRUE(bypasses_proxy("HuggingFace.CO.", 443, "huggingface.co"));
  EXPECT_FALSE(bypasses_proxy("nothuggingface.co", 443, "huggingface.co"));
  EXPECT_FALSE(bypasses_proxy("huggingface.co.evil", 443, "huggingface.co"));
  EXPECT_TRUE(bypasses_proxy("mirror.local", 8080, "mirror.local:8080"));
  EXPECT_FALSE(bypasses_proxy("mirror.local", 443, "mirror.local:8080"));
  EXPECT_TRUE(bypasses_proxy("10.1.2.3", 80, "192.168.0.0/16 10.0.0.0/8"));
  EXPECT_FALSE(bypasses_proxy("11.1.2.3", 80, "10.0.0.0/8"));
  EXPECT_TRUE(bypasses_proxy("10.1.2.3", 80, "10.1.2.3"));
  EXPECT_FALSE(bypasses_proxy("10.1.2.30", 80, "10.1.2.3"));
  EXPECT_TRUE(bypasses_proxy("[::1]", 80, "::1"));
  EXPECT_FALSE(bypasses_proxy("example.com", 80, ",, ,"));
  EXPECT_FALSE(bypasses_proxy("example.com", 80, "10.0.0.0/99,example.org:99999"));
}

TEST(HubUrl, EncodesPathSegments) {
  EXPECT_EQ(url_encode_path("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(url_encode_path("org/na me", true), "org/na%20me");
}

TEST(HubUrl, ReadsTheEnvironment) {
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:1234/", 1);
  ::setenv("HF_TOKEN", "hf_abc", 1);
  ::setenv("RAGKIT_OFFLINE", "1", 1);
  HubEnvironment env = hub_environment();
  EXPECT_EQ(env.endpoint, "http://127.0.0.1:1234");
  EXPECT_EQ(env.token, "hf_abc");
  EXPECT_TRUE(env.offline);
  EXPECT_EQ(env.offline_reason, "RAGKIT_OFFLINE=1");
  ::setenv("RAGKIT_OFFLINE", "0", 1);
  ::unsetenv("HF_HUB_OFFLINE");
  EXPECT_FALSE(hub_environment().offline);
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("HF_TOKEN");
  ::unsetenv("RAGKIT_OFFLINE");
  EXPECT_EQ(hub_environment().endpoint, kDefaultEndpoint);
}

}  // namespace
}  // namespace ragkit::hub
