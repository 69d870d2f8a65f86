"""Names folded again where decomposing a character gave capitals ("ℌ" gives "H"): the folded
name (payments.customer_names) is now lower case throughout, as a search's words are.

Only names holding something other than lower-case ASCII letters, digits and spaces once folded
can change: those are read (a scan of the folded names, no index), the others are not."""

from django.db import migrations

from payments.customer_names import folded_name


def refold(apps, schema_editor):
    Order = apps.get_model("payments", "Order")
    changed = []
    candidates = Order.objects.filter(customer_name_folded__regex=r"[^a-z0-9 ]").only(
        "pk", "customer_name", "customer_name_folded"
    )
    for order in candidates.order_by("pk").iterator(chunk_size=2000):
        folded = folded_name(order.customer_name)
        if folded != order.customer_name_folded:
            order.customer_name_folded = folded
            changed.append(order)
        if len(changed) == 2000:
            Order.objects.bulk_update(changed, ["customer_name_folded"])
            changed = []
    Order.objects.bulk_update(changed, ["customer_name_folded"])


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0022_export_attempt"),
    ]

    operations = [
        migrations.RunPython(refold, migrations.RunPython.noop),
    ]
