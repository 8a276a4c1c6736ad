/* The C API from a consumer's C test: version checks and one policy
 * decision, built as C99 against @starling//core/capi. */
#include <stdio.h>
#include <string.h>

#include "core/capi/starling.h"

int main(void) {
  if (starling_abi_version() != STARLING_ABI_VERSION ||
      strcmp(starling_version(), STARLING_VERSION) != 0) {
    fprintf(stderr, "header and library differ\n");
    return 1;
  }
  const char text[] = "* may\n";
  starling_policy_table* table = NULL;
  if (starling_policy_table_parse(text, strlen(text), &table) != STARLING_OK) return 1;
  starling_destination d;
  starling_destination_init(&d);
  d.next_hop_domain = "example.org";
  d.mx_host = "mx.example.org";
  starling_policy_query q;
  starling_policy_query_init(&q);
  q.destination = &d;
  starling_policy_decision* decision = NULL;
  if (starling_policy_judge(table, &q, &decision) != STARLING_OK) return 1;
  const int ok = decision->verdict == STARLING_VERDICT_PROCEED_PLAINTEXT;
  printf("%s", decision->explanation);
  starling_policy_decision_free(decision);
  starling_policy_table_free(table);
  return ok ? 0 : 1;
}
