/* The four TWIGZ migrations, in registry order. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const tm_field store_status[] = {
    {.field = "status", .default_json = "\"pending\"", .missing = TM_MISSING_ABSENT},
};

static const tm_field store_fields[] = {
    {.field = "status", .default_json = "\"pending\"", .missing = TM_MISSING_ABSENT},
    {.field = "phoneNumberVerified", .default_json = "false", .missing = TM_MISSING_ABSENT},
};

static const tm_field customer_username[] = {
    {.field = "username", .derived_from = "name", .missing = TM_MISSING_FALSY},
};

static const tm_field customer_privacy[] = {
    {.field = "isPrivate", .default_json = "true", .missing = TM_MISSING_ABSENT},
};

static const tm_migration registry[] = {
    {
        .name = "addStatusToStores",
        .collection = "stores",
        .description = "Sets status to \"pending\" on stores that have no status.",
        .fields = store_status,
        .n_fields = COUNT(store_status),
    },
    {
        .name = "ensureStoreFields",
        .collection = "stores",
        .description =
            "Sets status \"pending\" and phoneNumberVerified false on stores missing them, "
            "only the missing ones.",
        .fields = store_fields,
        .n_fields = COUNT(store_fields),
    },
    {
        .name = "addUsernamesToCustomers",
        .collection = "customers",
        .description = "Gives customers without a username one derived from their name, unique "
                       "through the by_username index (john, john1, john2).",
        .fields = customer_username,
        .n_fields = COUNT(customer_username),
        .derive = TM_DERIVE_USERNAME,
    },
    {
        .name = "addPrivacyToCustomers",
        .collection = "customers",
        .description = "Sets isPrivate to true on customers that have no isPrivate.",
        .fields = customer_privacy,
        .n_fields = COUNT(customer_privacy),
    },
};

size_t tm_registry_count(void) { return COUNT(registry); }

const tm_migration *tm_registry_at(size_t i) { return i < COUNT(registry) ? &registry[i] : NULL; }

size_t tm_registry_index(const tm_migration *m) { return (size_t)(m - registry); }

const tm_migration *tm_registry_find(const char *name) {
  for (size_t i = 0; i < COUNT(registry); i++) {
    if (strcmp(registry[i].name, name) == 0) return &registry[i];
  }
  return NULL;
}

void tm_registry_names(char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < COUNT(registry) && len < size; i++) {
    int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", registry[i].name);
    if (n < 0) break;
    len += (size_t)n;
  }
}
