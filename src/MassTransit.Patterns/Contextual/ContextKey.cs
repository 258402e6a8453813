using System.Text;

namespace MassTransit.Patterns.Contextual;

/// <summary>Turns a context value into a key usable as a queue name fragment and a routing key.</summary>
public static class ContextKey
{
    /// <summary>True when <paramref name="value"/> is usable as is: not empty, only <c>[A-Za-z0-9._-]</c>, at most <paramref name="maxLength"/> characters.</summary>
    public static bool IsValid(string? value, int maxLength)
    {
        if (string.IsNullOrEmpty(value) || value.Length > maxLength)
            return false;
        foreach (var c in value)
            if (!IsAllowed(c))
                return false;
        return true;
    }

    /// <summary>
    /// The key of a context value, or null when the message belongs in the default queue (null or blank value,
    /// or an invalid one under <see cref="InvalidContextKeyHandling.DefaultQueue"/>).
    /// </summary>
    public static string? Normalize(string? value, InvalidContextKeyHandling handling, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        if (IsValid(value, maxLength))
            return value;
        if (handling == InvalidContextKeyHandling.DefaultQueue)
            return null;

        var builder = new StringBuilder(value.Length);
        foreach (var c in value.Trim())
            builder.Append(IsAllowed(c) ? c : '-');
        var sanitized = builder.ToString();
        if (sanitized.Length > maxLength || !string.Equals(sanitized, value, StringComparison.Ordinal))
        {
            // A hash of the original keeps two different values that sanitize alike apart.
            var hash = Fnv(value).ToString("x8");
            var room = maxLength - hash.Length - 1;
            sanitized = (sanitized.Length > room ? sanitized[..room] : sanitized) + "-" + hash;
        }
        return sanitized;
    }

    /// <summary>A stable bucket number for a key.</summary>
    public static int Bucket(string key, int buckets) => (int)(Fnv(key) % (uint)buckets);

    static uint Fnv(string value)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(value))
            hash = (hash ^ b) * 16777619u;
        return hash;
    }

    static bool IsAllowed(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '_' or '-';
}
