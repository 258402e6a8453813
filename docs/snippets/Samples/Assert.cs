namespace MassTransit.Patterns.Docs.Snippets;

/// <summary>Stands in for xunit's Assert in the testing snippet (the snippets project is no test project).</summary>
internal static class Assert
{
    public static void NotNull(object? value)
    {
        if (value is null)
            throw new InvalidOperationException("expected a value");
    }

    public static void Equal<T>(IEnumerable<T> expected, IEnumerable<T> actual)
    {
        if (!expected.SequenceEqual(actual))
            throw new InvalidOperationException("sequences differ");
    }
}
