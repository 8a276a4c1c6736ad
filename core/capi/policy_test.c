/* The policy engine through the C API, from C: load a table, judge facts
 * (PKIX, DANE, MTA-STS, REQUIRETLS, no TLS) and explain. */
#include <stdint.h>
#include <string.h>

#include "core/capi/capi_check.h"
#include "core/capi/starling.h"

/* SHA-256 of testdata/server.crt's SubjectPublicKeyInfo (testdata/README.md). */
#define SPKI_SHA256 "5715a79c925370dd3dc907c72aae75d8a9f975630901c8e2469872bb867bb904"

static starling_policy_table* parse(const char* text) {
  starling_policy_table* table = NULL;
  CHECK_OK(starling_policy_table_parse(text, strlen(text), &table));
  return table;
}

static starling_policy_decision* judge(const starling_policy_table* table,
                                       const starling_policy_query* query) {
  starling_policy_decision* decision = NULL;
  CHECK_OK(starling_policy_judge(table, query, &decision));
  CHECK(decision != NULL);
  return decision;
}

int main(void) {
  size_t der_size = 0;
  char* der = read_file("core/capi/testdata/server.der", &der_size);
  starling_bytes chain[1] = {{der, der_size}};
  starling_tls_facts facts;
  starling_tls_facts_init(&facts);
  facts.version = STARLING_TLS_1_2;
  facts.cipher_suite = "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";
  facts.key_exchange_group = "x25519";
  facts.forward_secret = 1;
  facts.sni = "mx.capi.test";
  facts.peer_chain_der = chain;
  facts.peer_chain_count = 1;
  facts.chain_verdict = STARLING_CHAIN_TRUSTED;
  facts.trust_anchor_dn = "CN=mx.capi.test";

  starling_destination d;
  starling_destination_init(&d);
  d.next_hop_domain = "capi.test";
  d.mx_host = "mx.capi.test";
  starling_policy_query q;
  starling_policy_query_init(&q);
  q.destination = &d;
  q.now = TEST_NOW;

  /* A bad table names its line. */
  starling_policy_table* table = NULL;
  const char bad[] = "* may\ncapi.test verify protocls=TLSv1.2\n";
  CHECK_STATUS(starling_policy_table_parse(bad, strlen(bad), &table),
               STARLING_INVALID_ARGUMENT);
  CHECK(table == NULL);
  CHECK(strstr(starling_last_error(), "line 2") != NULL);

  /* verify: the trusted chain matches the MX host's name. */
  table = parse("* may\ncapi.test verify\nother.test encrypt\n");
  q.tls = &facts;
  starling_policy_decision* r = judge(table, &q);
  CHECK(r->mx_verdict == STARLING_VERDICT_PROCEED_TLS);
  CHECK(r->starttls_attempt == 1 && r->starttls_mandatory == 1);
  CHECK(strcmp(r->sni, "mx.capi.test") == 0);
  CHECK(r->verdict == STARLING_VERDICT_PROCEED_TLS);
  CHECK(strcmp(r->label, "verify:verified") == 0);
  CHECK(strcmp(r->tlsrpt_result_type, "") == 0);
  CHECK(r->message_verdict == STARLING_VERDICT_PROCEED_TLS);
  CHECK(r->trace_count > 0 && r->trace[0] != NULL);
  CHECK(strstr(r->explanation, "entry: capi.test verify") != NULL);
  CHECK(strcmp(starling_verdict_name(r->verdict), "proceed-tls") == 0);
  starling_policy_decision_free(r);

  /* The same chain, untrusted: verify defers on the last MX, tries the next
   * one otherwise. */
  facts.chain_verdict = STARLING_CHAIN_SELF_SIGNED;
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_DEFER);
  CHECK(strcmp(r->tlsrpt_result_type, "certificate-not-trusted") == 0);
  starling_policy_decision_free(r);
  d.more_mx = 1;
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_TRY_NEXT_MX);
  starling_policy_decision_free(r);
  d.more_mx = 0;

  /* Without TLS: may proceeds in plaintext, verify does not. */
  q.tls = NULL;
  q.no_tls = STARLING_TLS_NOT_OFFERED;
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_DEFER);
  CHECK(strcmp(r->tlsrpt_result_type, "starttls-not-supported") == 0);
  starling_policy_decision_free(r);
  d.next_hop_domain = "elsewhere.test";
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_PROCEED_PLAINTEXT);
  CHECK(strcmp(r->label, "may:plaintext") == 0);
  /* REQUIRETLS never goes in plaintext. */
  starling_policy_decision_free(r);
  q.requiretls = 1;
  r = judge(table, &q);
  CHECK(r->message_verdict == STARLING_VERDICT_BOUNCE);
  starling_policy_decision_free(r);
  q.requiretls = 0;
  starling_policy_table_free(table);

  /* DANE: a 3 1 1 record of the server's key authenticates a self-signed
   * chain; bogus DNSSEC defers. */
  table = parse("* dane-only\n");
  d.next_hop_domain = "capi.test";
  const char* tlsa[1] = {"3 1 1 " SPKI_SHA256};
  d.dnssec = STARLING_DNSSEC_SECURE;
  d.tlsa = tlsa;
  d.tlsa_count = 1;
  q.tls = &facts;
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_PROCEED_TLS);
  CHECK(strcmp(r->label, "dane:verified") == 0);
  starling_policy_decision_free(r);
  d.dnssec = STARLING_DNSSEC_BOGUS;
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_DEFER);
  CHECK(strcmp(r->tlsrpt_result_type, "dnssec-invalid") == 0);
  starling_policy_decision_free(r);
  const char* bad_tlsa[1] = {"3 1 1 zz"};
  d.tlsa = bad_tlsa;
  CHECK_STATUS(starling_policy_judge(table, &q, &r), STARLING_INVALID_ARGUMENT);
  CHECK(strstr(starling_last_error(), "tlsa[0]") != NULL);
  d.dnssec = STARLING_DNSSEC_INSECURE;
  d.tlsa = NULL;
  d.tlsa_count = 0;
  starling_policy_table_free(table);

  /* MTA-STS in enforce mode: the MX must be listed and the chain trusted. */
  table = parse("* may\n");
  facts.chain_verdict = STARLING_CHAIN_TRUSTED;
  d.sts_policy = "version: STSv1\nmode: enforce\nmx: mx.capi.test\nmax_age: 86400\n";
  r = judge(table, &q);
  CHECK(r->verdict == STARLING_VERDICT_PROCEED_TLS);
  CHECK(strcmp(r->label, "sts:verified") == 0);
  starling_policy_decision_free(r);
  d.mx_host = "mx.unlisted.test";
  r = judge(table, &q);
  CHECK(r->mx_verdict == STARLING_VERDICT_DEFER);
  starling_policy_decision_free(r);
  d.sts_policy = "version: STSv9\n";
  CHECK_STATUS(starling_policy_judge(table, &q, &r), STARLING_INVALID_ARGUMENT);
  CHECK(strstr(starling_last_error(), "sts_policy") != NULL);
  d.sts_policy = NULL;

  /* Misuse. */
  CHECK_STATUS(starling_policy_judge(NULL, &q, &r), STARLING_INVALID_ARGUMENT);
  CHECK_STATUS(starling_policy_judge(table, NULL, &r), STARLING_INVALID_ARGUMENT);
  q.destination = NULL;
  CHECK_STATUS(starling_policy_judge(table, &q, &r), STARLING_INVALID_ARGUMENT);
  starling_policy_table_free(table);
  CHECK_STATUS(starling_policy_table_parse(NULL, 3, &table), STARLING_INVALID_ARGUMENT);
  CHECK(table == NULL);
  starling_policy_table_free(NULL);
  starling_policy_decision_free(NULL);
  free(der);
  printf("policy_test: ok\n");
  return 0;
}
