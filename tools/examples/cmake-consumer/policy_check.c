/* Judges one delivery with the C API of an installed Starling (starling::c). */
#include <stdio.h>
#include <string.h>

#include "core/capi/starling.h"

int main(void) {
  const char text[] = "* may\nbank.example encrypt\n";
  starling_policy_table* table = NULL;
  if (starling_policy_table_parse(text, strlen(text), &table) != STARLING_OK) {
    fprintf(stderr, "policy_check: %s\n", starling_last_error());
    return 1;
  }
  starling_destination d;
  starling_destination_init(&d);
  d.next_hop_domain = "bank.example";
  d.mx_host = "mx.bank.example";
  starling_policy_query q;
  starling_policy_query_init(&q);
  q.destination = &d;
  q.no_tls = STARLING_TLS_NOT_OFFERED;
  q.now = (starling_time)1798761600 * 1000000000;
  starling_policy_decision* decision = NULL;
  if (starling_policy_judge(table, &q, &decision) != STARLING_OK) {
    fprintf(stderr, "policy_check: %s\n", starling_last_error());
    return 1;
  }
  printf("Starling %s\n%s", starling_version(), decision->explanation);
  const int ok = decision->verdict == STARLING_VERDICT_DEFER &&
                 strcmp(decision->tlsrpt_result_type, "starttls-not-supported") == 0;
  starling_policy_decision_free(decision);
  starling_policy_table_free(table);
  printf("policy_check: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
