"""{% pk_url "refund" payment.pk %}: {% url "refund" payment.pk %} for the views of one object,
made by backoffice.links.pk_path from the view's path reversed once, not once per link. An order
page writes about a dozen such links, and each reverse() cost as much as a tenth of its template."""

from django import template

from backoffice.links import pk_path

register = template.Library()


@register.simple_tag
def pk_url(view_name, pk):
    return pk_path(view_name, pk)
