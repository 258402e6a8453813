namespace MassTransit.Patterns.Showcase.Infrastructure;

/// <summary>One scenario of the showcase: a pattern at work, measured, with its guarantee checked.</summary>
public interface IShowcaseScenario
{
    /// <summary>The name given on the command line.</summary>
    string Name { get; }

    /// <summary>One line on what it shows.</summary>
    string Description { get; }

    Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken);
}
