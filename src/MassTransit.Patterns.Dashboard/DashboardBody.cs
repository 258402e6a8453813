using System.Text.Encodings.Web;
using System.Text.Json;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Shows a body: indented when it is JSON, as it is otherwise.</summary>
static class DashboardBody
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static bool IsJsonContentType(string? contentType) =>
        contentType is not null && contentType.Contains("json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The body indented when it parses as JSON (whatever the content type says), and whether it did.</summary>
    public static (string Text, bool IsJson) Pretty(string? body)
    {
        if (string.IsNullOrEmpty(body))
            return ("", false);
        try
        {
            using var document = JsonDocument.Parse(body);
            return (JsonSerializer.Serialize(document.RootElement, Indented), true);
        }
        catch (JsonException)
        {
            return (body, false);
        }
    }

    /// <summary>Null when <paramref name="body"/> is JSON, otherwise why not (the parser's words, with line and position).</summary>
    public static string? JsonError(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return null;
        }
        catch (JsonException e)
        {
            return e.Message;
        }
    }
}
