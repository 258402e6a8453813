using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;

namespace MassTransit.Patterns.Dashboard;

/// <summary>The console's script, style sheet and icon, embedded in this assembly (no CDN, nothing fetched at run time).</summary>
static class DashboardAssets
{
    static readonly FrozenDictionary<string, (byte[] Content, string ContentType)> Assets = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal)
    {
        ["dashboard.js"] = (Load("dashboard.js"), "text/javascript; charset=utf-8"),
        ["dashboard.css"] = (Load("dashboard.css"), "text/css; charset=utf-8"),
        ["favicon.svg"] = (Load("favicon.svg"), "image/svg+xml")
    }.ToFrozenDictionary(StringComparer.Ordinal);

    static byte[] Load(string name)
    {
        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream("MassTransit.Patterns.Dashboard.Assets." + name)
            ?? throw new InvalidOperationException($"The embedded asset {name} is missing from {typeof(DashboardAssets).Assembly.GetName().Name}.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    public static IResult Serve(HttpContext http, string name)
    {
        if (!Assets.TryGetValue(name, out var asset))
            return Results.NotFound();
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(asset.Content, asset.ContentType);
    }
}
