namespace MassTransit.Patterns.Addressing;

/// <summary>Reads the queue or exchange name that a MassTransit address ends with, whatever the transport.</summary>
static class AddressNames
{
    /// <summary>
    /// The last path segment of <paramref name="address"/>, unescaped and without its query
    /// (<c>rabbitmq://host/vhost/orders?bind=true</c> → <c>orders</c>), or null when it has none.
    /// </summary>
    public static string? EntityName(Uri? address)
    {
        if (address is null)
            return null;
        var path = address.AbsolutePath.Trim('/');
        var name = path[(path.LastIndexOf('/') + 1)..];
        return name.Length == 0 ? null : Uri.UnescapeDataString(name);
    }
}
