# The sources of the CMake build, one path per line. //cmake:sources_test
# compares these lists with the Bazel targets they mirror (a genquery of
# //core/capi's dependencies), so neither build can drift from the other.

# starling::core — SMTP sessions and the TLS policy engine (Abseil + std).
set(STARLING_CORE_SOURCES
  core/policy/dane.cc
  core/policy/engine.cc
  core/policy/hook.cc
  core/policy/large_array.cc
  core/policy/level.cc
  core/policy/mta_sts.cc
  core/policy/names.cc
  core/policy/policy_entry.cc
  core/policy/table.cc
  core/smtp/capabilities.cc
  core/smtp/client_session.cc
  core/smtp/client_transitions.cc
  core/smtp/command.cc
  core/smtp/dot_stuffing.cc
  core/smtp/line_reader.cc
  core/smtp/reply.cc
  core/smtp/server_session.cc
  core/smtp/server_transitions.cc
  core/smtp/session_error.cc
  core/smtp/text.cc
  core/smtp/tls_policy_hook.cc
)

# starling::tls — the Botan 2 channel and the STARTTLS pump.
set(STARLING_TLS_SOURCES
  core/starttls/connection.cc
  core/starttls/tls_pipe.cc
  core/tls/channel.cc
  core/tls/credentials.cc
  core/tls/facts.cc
  core/tls/policy_bridge.cc
  core/tls/rng.cc
)

# starling::c — the C API.
set(STARLING_C_SOURCES
  core/capi/starling.cc
)

# Installed under include/starling/, keeping their paths.
set(STARLING_HEADERS
  core/capi/starling.h
  core/policy/dane.h
  core/policy/engine.h
  core/policy/hook.h
  core/policy/large_array.h
  core/policy/level.h
  core/policy/mta_sts.h
  core/policy/names.h
  core/policy/policy_entry.h
  core/policy/table.h
  core/smtp/capabilities.h
  core/smtp/client_session.h
  core/smtp/client_transitions.h
  core/smtp/command.h
  core/smtp/dot_stuffing.h
  core/smtp/line_reader.h
  core/smtp/reply.h
  core/smtp/server_session.h
  core/smtp/server_transitions.h
  core/smtp/session_error.h
  core/smtp/text.h
  core/smtp/tls_policy_hook.h
  core/smtp/transition_table.h
  core/starttls/connection.h
  core/starttls/tls_pipe.h
  core/tls/channel.h
  core/tls/credentials.h
  core/tls/facts.h
  core/tls/policy_bridge.h
  core/tls/rng.h
  core/tlsfacts/tls_facts.h
)
